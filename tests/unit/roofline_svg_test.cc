// The roofline SVG writer (tools/roofline_svg.h) on a made-up bench result: the output is well-formed
// (every tag we emit balanced, attributes quoted, text escaped), names every op family and step, draws
// the roof as a polyline, and places each point under the roof in pixel space exactly when its values lie
// under min(peak, bandwidth x intensity), above it when they do not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tools/roofline_svg.h"

namespace tachyon::runtime {
namespace {

using dsv4::OpFamily;

struct Tag {
  std::string name;
  std::map<std::string, std::string> attrs;
};


// text with the five XML entities removed (a stray & or > is then left to be found).
std::string strip_entities(const std::string& text) {
  static const char* const kEntities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool entity = false;
    for (const char* e : kEntities)
      if (text.compare(i, std::char_traits<char>::length(e), e) == 0) {
        i += std::char_traits<char>::length(e);
        entity = true;
        break;
      }
    if (!entity) out += text[i++];
  }
  return out;
}

// ` name="value" ...` (names [A-Za-z_:][-A-Za-z0-9_:.]*, values without " or <) into attrs; false on
// anything else.
bool parse_attrs(const std::string& s, std::map<std::string, std::string>* attrs) {
  auto name_start = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; };
  auto name_char = [&](char c) { return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'; };
  size_t i = 0;
  while (true) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
    if (i == s.size()) return true;
    if (!name_start(s[i])) return false;
    const size_t n0 = i;
    while (i < s.size() && name_char(s[i])) ++i;
    const std::string name = s.substr(n0, i - n0);
    if (s.compare(i, 2, "=\"") != 0) return false;
    i += 2;
    const size_t v0 = i;
    while (i < s.size() && s[i] != '"' && s[i] != '<') ++i;
    if (i == s.size() || s[i] != '"') return false;
    (*attrs)[name] = s.substr(v0, i - v0);
    ++i;
  }
}

// Parses the tags of `svg` (an XML declaration first, then elements, self-closing or not), checking that
// they nest and balance and that text between them holds no '<' and only the five XML entities. Returns
// every opening tag in order; fails the test on the first problem.
std::vector<Tag> parse_tags(const std::string& svg) {
  std::vector<Tag> tags;
  std::vector<std::string> open;
  size_t i = 0;
  EXPECT_EQ(svg.rfind("<?xml ", 0), 0u);
  i = svg.find("?>");
  if (i == std::string::npos) {
    ADD_FAILURE() << "no XML declaration end";
    return tags;
  }
  i += 2;
  while (i < svg.size()) {
    const size_t lt = svg.find('<', i);
    const std::string text = svg.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
    const std::string bare = strip_entities(text);
    EXPECT_EQ(bare.find('&'), std::string::npos) << "unescaped & in: " << text;
    EXPECT_EQ(bare.find('>'), std::string::npos) << "stray > in: " << text;
    if (lt == std::string::npos) break;
    if (open.empty() && !tags.empty()) ADD_FAILURE() << "content after the root element";
    const size_t gt = svg.find('>', lt);
    if (gt == std::string::npos) {
      ADD_FAILURE() << "unterminated tag at " << lt;
      break;
    }
    std::string body = svg.substr(lt + 1, gt - lt - 1);
    EXPECT_EQ(body.find('<'), std::string::npos) << body;
    i = gt + 1;
    if (!body.empty() && body[0] == '/') {
      const std::string name = body.substr(1);
      if (open.empty() || open.back() != name) {
        ADD_FAILURE() << "</" << name << "> closes " << (open.empty() ? "nothing" : open.back());
        break;
      }
      open.pop_back();
      continue;
    }
    const bool self_closing = !body.empty() && body.back() == '/';
    if (self_closing) body.pop_back();
    Tag t;
    const size_t sp = body.find_first_of(" \n");
    t.name = body.substr(0, sp);
    if (sp != std::string::npos) {
      // Nothing but attributes and spaces.
      EXPECT_TRUE(parse_attrs(body.substr(sp), &t.attrs)) << body;
    }
    if (tags.empty()) {
      EXPECT_EQ(t.name, "svg");
    }
    tags.push_back(t);
    if (!self_closing) open.push_back(t.name);
  }
  EXPECT_TRUE(open.empty()) << open.size() << " tags left open";
  return tags;
}

// Values: bandwidth 50 GB/s, peak 400 GFLOP/s (the roof bends at 8 FLOP per byte).
struct Made {
  BenchResult r;
  std::map<std::string, std::pair<double, double>> values;  // label -> (intensity, GFLOP/s)
};

Made made_up() {
  Made m;
  BenchResult& r = m.r;
  r.isa = "avx512-vnni";
  r.threads = 2;
  r.bw.gbs = 50;
  r.peak.gflops = 400;
  r.peak.instruction = "vfmadd231ps zmm (fp32 FMA, 16 lanes)";
  auto family = [&](OpFamily f, double bytes, double flops, double s) {
    r.decode_op_bytes[size_t(f)] = bytes;
    r.decode_op_flops[size_t(f)] = flops;
    r.decode_op_s[size_t(f)] = s;
    if (flops > 0) m.values[std::string(dsv4::kOpFamilyNames[size_t(f)])] = {flops / bytes, flops / s / 1e9};
  };
  family(OpFamily::kEmbed, 1e4, 0, 1e-5);     // no FLOPs: not plotted
  family(OpFamily::kNorm, 1e4, 0, 1e-5);
  family(OpFamily::kMhc, 1e7, 5e6, 1e-3);     // 0.5 FLOP/B, 5 GFLOP/s: under (roof 25)
  family(OpFamily::kAttention, 1e8, 4e8, 1e-2);  // 4, 40: under (roof 200)
  family(OpFamily::kRouter, 1e6, 1e6, 1e-5);  // 1, 100: above (roof 50)
  family(OpFamily::kExperts, 2e8, 1e8, 5e-3);  // 0.5, 20: under
  family(OpFamily::kShared, 5e7, 5e7, 2e-3);  // 1, 25: under
  family(OpFamily::kHead, 5e8, 5e8, 2e-2);    // 1, 25: under
  auto step = [&](StepRoofline& s, const char* label, double tokens, double bytes, double flops, double sec) {
    s = {sec, tokens, bytes, flops};
    m.values[label] = {flops / bytes, flops / sec / 1e9};
  };
  step(r.decode_step, "decode", 1, 1e9, 1e9, 5e-2);        // 1, 20
  step(r.verify2, "verify2", 2, 1.01e9, 2e9, 6e-2);        // ~2, 33
  step(r.verify4, "verify4", 4, 1.02e9, 4e9, 1e-2);        // ~3.9, 400: above (roof 196)
  step(r.batch_step, "batch8", 8, 2e9, 8e9, 1e-1);         // 4, 80
  step(r.prefill_step, "prefill", 1024, 1e9, 1e12, 5.0);   // 1000, 200: under the peak
  return m;
}

double roof_y_at(const std::vector<std::pair<double, double>>& roof, double x) {
  for (size_t i = 1; i < roof.size(); ++i)
    if (x <= roof[i].first + 1e-9) {
      const auto [x0, y0] = roof[i - 1];
      const auto [x1, y1] = roof[i];
      return x1 == x0 ? y1 : y0 + (y1 - y0) * (x - x0) / (x1 - x0);
    }
  return roof.back().second;
}

TEST(RooflineSvg, WellFormedWithEveryLabelAndPointsPlacedAgainstTheRoof) {
  const Made m = made_up();
  const std::string svg = roofline_svg(m.r, {"mini-flash", "2026-12-07"});
  const std::vector<Tag> tags = parse_tags(svg);
  ASSERT_FALSE(tags.empty());
  EXPECT_EQ(tags[0].attrs.at("xmlns"), "http://www.w3.org/2000/svg");
  // Every family is a point's label, or named in the note of what could not be plotted.
  const size_t note_at = svg.find("not plotted");
  ASSERT_NE(note_at, std::string::npos);
  const std::string note = svg.substr(note_at, svg.find("</text>", note_at) - note_at);
  for (std::string_view f : dsv4::kOpFamilyNames) {
    const bool labelled = svg.find(">" + std::string(f) + "</text>") != std::string::npos;
    EXPECT_NE(labelled, note.find(std::string(f)) != std::string::npos) << f << " labelled or in the note";
    EXPECT_EQ(labelled, m.values.count(std::string(f)) == 1) << f;
  }
  for (const char* s : {"decode", "verify2", "verify4", "batch8", "prefill"})
    EXPECT_NE(svg.find(">" + std::string(s) + "</text>"), std::string::npos) << s;
  for (const char* s : {"mini-flash", "avx512-vnni", "2 threads", "2026-12-07", "vfmadd231ps zmm"})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  for (const Tag& t : tags) EXPECT_EQ(t.attrs.count("href") + t.attrs.count("xlink:href"), 0u) << t.name;

  std::vector<std::pair<double, double>> roof;
  int roofs = 0;
  for (const Tag& t : tags)
    if (t.name == "polyline" && t.attrs.count("class") && t.attrs.at("class") == "roof") {
      ++roofs;
      std::istringstream in(t.attrs.at("points"));
      std::string pt;
      while (in >> pt) roof.emplace_back(std::stod(pt.substr(0, pt.find(','))), std::stod(pt.substr(pt.find(',') + 1)));
    }
  ASSERT_EQ(roofs, 1);
  ASSERT_GE(roof.size(), 2u);
  EXPECT_TRUE(std::is_sorted(roof.begin(), roof.end())) << "roof points left to right";

  std::map<std::string, std::pair<double, double>> seen;  // label -> (cx, cy)
  for (const Tag& t : tags) {
    if (t.name != "circle") continue;
    const std::string label = t.attrs.at("data-label");
    ASSERT_TRUE(m.values.count(label)) << "unexpected point " << label;
    const double cx = std::stod(t.attrs.at("cx")), cy = std::stod(t.attrs.at("cy"));
    seen[label] = {cx, cy};
    const auto [intensity, gflops] = m.values.at(label);
    const bool under = gflops <= std::min(m.r.peak.gflops, m.r.bw.gbs * intensity);
    ASSERT_GE(cx, roof.front().first - 1e-6) << label;
    ASSERT_LE(cx, roof.back().first + 1e-6) << label;
    const double ry = roof_y_at(roof, cx);  // pixel y grows down the page
    if (under) {
      EXPECT_GE(cy, ry) << label << " should be drawn under the roof";
    } else {
      EXPECT_LT(cy, ry) << label << " should be drawn above the roof";
    }
  }
  EXPECT_EQ(seen.size(), m.values.size()) << "every point with FLOPs is plotted once";
  // Larger intensity further right, larger rate further up.
  EXPECT_LT(seen.at("mhc").first, seen.at("attention").first);
  EXPECT_GT(seen.at("mhc").second, seen.at("attention").second);
}

TEST(RooflineSvg, EscapesText) {
  const Made m = made_up();
  const std::string svg = roofline_svg(m.r, {"a<b>&\"c\"", "2026-12-07"});
  parse_tags(svg);
  EXPECT_NE(svg.find("a&lt;b&gt;&amp;&quot;c&quot;"), std::string::npos);
}

TEST(RooflineSvg, PointsFollowTheResult) {
  const Made m = made_up();
  const std::vector<RooflinePoint> pts = roofline_points(m.r);
  ASSERT_EQ(pts.size(), size_t(OpFamily::kCount) + 5);
  for (const RooflinePoint& p : pts) {
    const auto it = m.values.find(p.label);
    if (it == m.values.end()) {  // the families without FLOPs
      EXPECT_EQ(p.intensity, 0.0) << p.label;
      continue;
    }
    EXPECT_DOUBLE_EQ(p.intensity, it->second.first) << p.label;
    EXPECT_DOUBLE_EQ(p.gflops, it->second.second) << p.label;
  }
}

}  // namespace
}  // namespace tachyon::runtime
