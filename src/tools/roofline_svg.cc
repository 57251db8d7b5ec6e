#include "tools/roofline_svg.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace tachyon::runtime {

namespace {

constexpr double kWidth = 960, kHeight = 640;
constexpr double kLeft = 90, kRight = 40, kTop = 86, kBottom = 110;  // margins around the plot area
constexpr double kCharWidth = 6.8, kLineHeight = 13;                  // of 12-pixel sans-serif text, roughly

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

bool plottable(const RooflinePoint& p) {
  return std::isfinite(p.intensity) && std::isfinite(p.gflops) && p.intensity > 0 && p.gflops > 0;
}

// A decade-aligned log axis from lo to hi mapped onto pixels [p0, p1].
struct LogAxis {
  double lo_exp = 0, hi_exp = 1, p0 = 0, p1 = 1;
  LogAxis(double lo, double hi, double p0_, double p1_) : p0(p0_), p1(p1_) {
    lo_exp = std::floor(std::log10(lo));
    hi_exp = std::ceil(std::log10(hi));
    if (hi_exp <= lo_exp) hi_exp = lo_exp + 1;
  }
  double px(double v) const { return p0 + (std::log10(v) - lo_exp) / (hi_exp - lo_exp) * (p1 - p0); }
  double min() const { return std::pow(10.0, lo_exp); }
  double max() const { return std::pow(10.0, hi_exp); }
};

std::string tick_label(double e) {
  const double v = std::pow(10.0, e);
  return e < 0 ? fmt::format("{:g}", v) : fmt::format("{:.0f}", v);
}

}  // namespace

std::vector<RooflinePoint> roofline_points(const BenchResult& r) {
  std::vector<RooflinePoint> pts;
  for (size_t f = 0; f < r.decode_op_bytes.size(); ++f) {
    const double bytes = r.decode_op_bytes[f], flops = r.decode_op_flops[f], s = r.decode_op_s[f];
    RooflinePoint p{std::string(dsv4::kOpFamilyNames[f]), false};
    if (bytes > 0 && flops > 0) p.intensity = flops / bytes;
    if (s > 0 && flops > 0) p.gflops = flops / s / 1e9;
    pts.push_back(p);
  }
  auto step = [&](std::string label, const StepRoofline& s) {
    RooflinePoint p{std::move(label), true};
    if (s.bytes > 0 && s.flops > 0) p.intensity = s.flops / s.bytes;
    if (s.seconds > 0 && s.flops > 0) p.gflops = s.flops / s.seconds / 1e9;
    pts.push_back(p);
  };
  step("decode", r.decode_step);
  step("verify2", r.verify2);
  step("verify4", r.verify4);
  step(fmt::format("batch{:.0f}", r.batch_step.tokens), r.batch_step);
  step("prefill", r.prefill_step);
  return pts;
}

std::string roofline_svg(const BenchResult& r, const RooflineInfo& info) {
  const std::vector<RooflinePoint> pts = roofline_points(r);
  const double bw = r.bw.gbs, peak = r.peak.gflops;  // GB/s, GFLOP/s
  const double peak_i8 = r.int8_experts || r.int8_rows ? r.peak_i8.gflops : 0.0;  // Gop/s of the integer dot product
  const double ridge = bw > 0 && peak > 0 ? peak / bw : 1.0;  // FLOP per byte where the roof bends
  // Axis ranges: every plotted point, the ridge with a decade either side, the peak.
  double x_lo = ridge / 10, x_hi = ridge * 10, y_lo = peak > 0 ? peak / 1000 : 1, y_hi = peak > 0 ? peak : 10;
  for (const RooflinePoint& p : pts) {
    if (!plottable(p)) continue;
    x_lo = std::min(x_lo, p.intensity);
    x_hi = std::max(x_hi, p.intensity);
    y_lo = std::min(y_lo, p.gflops);
    y_hi = std::max(y_hi, p.gflops);
  }
  y_hi = std::max(y_hi, peak_i8);
  const LogAxis X(x_lo, x_hi * 1.01, kLeft, kWidth - kRight);
  const LogAxis Y(y_lo, y_hi * 1.01, kHeight - kBottom, kTop);  // up the page
  std::string s;
  s += fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight);
  s += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"white\"/>\n", kWidth, kHeight);
  s += fmt::format("<text x=\"{}\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">{}</text>\n", kWidth / 2,
                   xml_escape(fmt::format("Roofline: {}, {} kernels, {} threads, {}", info.model, r.isa, r.threads,
                                          info.date)));
  const std::string sub =
      fmt::format("roof: read bandwidth {:.1f} GB/s, peak {:.1f} GFLOP/s ({})", bw, peak, r.peak.instruction);
  s += fmt::format("<text x=\"{}\" y=\"48\" text-anchor=\"middle\">{}</text>\n", kWidth / 2, xml_escape(sub));
  if (peak_i8 > 0)
    s += fmt::format("<text x=\"{}\" y=\"66\" text-anchor=\"middle\">{}</text>\n", kWidth / 2,
                     xml_escape(fmt::format("dashed roof: {:.1f} Gop/s ({}), the integer kernels", peak_i8,
                                            r.peak_i8.instruction)));
  // Grid and ticks, one per decade.
  s += "<g class=\"grid\" stroke=\"#dddddd\">\n";
  for (double e = X.lo_exp; e <= X.hi_exp; ++e) {
    const double x = X.px(std::pow(10.0, e));
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>\n", x, Y.p1, Y.p0);
  }
  for (double e = Y.lo_exp; e <= Y.hi_exp; ++e) {
    const double y = Y.px(std::pow(10.0, e));
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\"/>\n", X.p0, y, X.p1);
  }
  s += "</g>\n<g class=\"ticks\">\n";
  for (double e = X.lo_exp; e <= X.hi_exp; ++e)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", X.px(std::pow(10.0, e)),
                     Y.p0 + 18, tick_label(e));
  for (double e = Y.lo_exp; e <= Y.hi_exp; ++e)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", X.p0 - 6,
                     Y.px(std::pow(10.0, e)) + 4, tick_label(e));
  s += "</g>\n";
  s += fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"black\"/>\n", X.p0,
      Y.p1, X.p1 - X.p0, Y.p0 - Y.p1);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", (X.p0 + X.p1) / 2, Y.p0 + 40,
                   "arithmetic intensity (FLOP per byte read)");
  s += fmt::format(
      "<text x=\"20\" y=\"{0:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {0:.1f})\">GFLOP/s</text>\n",
      (Y.p0 + Y.p1) / 2);
  // The roof: min(peak, bw x intensity), straight segments on log axes; the memory slope starts where it
  // enters the plot.
  // A second, dashed roof at the integer peak when the routed experts run on it.
  auto roof = [&](double top, const char* cls, const char* dash) {
    const double x0 = std::max(X.min(), Y.min() / bw), x1 = X.max();
    std::string line;
    for (double x : {x0, std::clamp(top / bw, x0, x1), x1})
      line += fmt::format("{:.2f},{:.2f} ", X.px(x), Y.px(std::min(top, bw * x)));
    line.pop_back();
    s += fmt::format("<polyline class=\"{}\" points=\"{}\" fill=\"none\" stroke=\"black\" stroke-width=\"2\"{}/>\n",
                     cls, line, dash);
  };
  if (bw > 0 && peak > 0) roof(peak, "roof", "");
  if (bw > 0 && peak_i8 > 0) roof(peak_i8, "roof-i8", " stroke-dasharray=\"6 4\"");
  // The points, then their labels: each at the first spot around its point that no other label or point
  // covers (the first spot when every one is taken).
  std::string skipped;
  std::vector<Box> taken;
  std::vector<std::pair<const RooflinePoint*, std::pair<double, double>>> placed;
  for (const RooflinePoint& p : pts) {
    if (!plottable(p)) {
      skipped += (skipped.empty() ? "" : ", ") + p.label;
      continue;
    }
    const double cx = X.px(p.intensity), cy = Y.px(p.gflops);
    s += fmt::format("<circle class=\"{}\" data-label=\"{}\" cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"4\" fill=\"{}\"/>\n",
                     p.step ? "step" : "family", xml_escape(p.label), cx, cy, p.step ? "#c0392b" : "#2e6db4");
    taken.push_back({cx - 4, cy - 4, cx + 4, cy + 4});
    placed.push_back({&p, {cx, cy}});
  }
  for (const auto& [p, at] : placed) {
    const auto [cx, cy] = at;
    const double w = kCharWidth * double(p->label.size());
    // Baseline offsets: right and left of the point, then further up and down.
    const std::pair<double, double> spots[] = {{6, -6},       {6, 14},       {-6 - w, -6},  {-6 - w, 14},
                                               {6, -6 - 13},  {6, 14 + 13},  {-6 - w, -19}, {-6 - w, 27},
                                               {6, -6 - 26},  {6, 14 + 26},  {-w / 2, -32}, {-w / 2, 40}};
    Box best{cx + 6, cy - 6 - kLineHeight + 3, cx + 6 + w, cy - 6 + 3};
    for (const auto& [dx, dy] : spots) {
      const Box b{cx + dx, cy + dy - kLineHeight + 3, cx + dx + w, cy + dy + 3};
      if (std::none_of(taken.begin(), taken.end(), [&](const Box& o) { return b.overlaps(o); })) {
        best = b;
        break;
      }
    }
    taken.push_back(best);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{}</text>\n", best.x0, best.y1 - 3,
                     p->step ? "#c0392b" : "#2e6db4", xml_escape(p->label));
  }
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", X.p0, kHeight - 40,
                   "blue: op families of a batch-1 decode step; red: whole steps");
  if (!skipped.empty())
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">not plotted (no FLOPs, bytes or time counted): {}</text>\n",
                     X.p0, kHeight - 20, xml_escape(skipped));
  s += "</svg>\n";
  return s;
}

}  // namespace tachyon::runtime
