#include "grammar/grammar.h"

#include <functional>
#include <utility>

namespace tachyon::grammar {

Element Element::literal(std::string b) {
  Element e;
  e.kind = ElemKind::kLiteral;
  e.bytes = std::move(b);
  return e;
}
Element Element::byte_set(std::bitset<256> s) {
  Element e;
  e.kind = ElemKind::kByteSet;
  e.set = s;
  return e;
}
Element Element::ref(uint32_t rule_id) {
  Element e;
  e.kind = ElemKind::kRule;
  e.rule = rule_id;
  return e;
}
Element Element::repeat(uint32_t rule_id, uint32_t min_count, uint32_t max_count, std::string separator) {
  Element e;
  e.kind = ElemKind::kRepeat;
  e.rule = rule_id;
  e.min = min_count;
  e.max = max_count;
  e.bytes = std::move(separator);
  return e;
}
Element Element::json_string(uint32_t min_code_points, uint32_t max_code_points) {
  Element e;
  e.kind = ElemKind::kString;
  e.min = min_code_points;
  e.max = max_code_points;
  return e;
}
Element Element::json_integer(IntRange r) {
  Element e;
  e.kind = ElemKind::kInteger;
  e.range = r;
  return e;
}
Element Element::json_number() {
  Element e;
  e.kind = ElemKind::kNumber;
  return e;
}

uint32_t GrammarBuilder::add_rule(std::string name) {
  rules_.push_back(Rule{std::move(name), {}, false});
  return uint32_t(rules_.size() - 1);
}

void GrammarBuilder::define(uint32_t rule, std::vector<Sequence> alternatives) {
  rules_.at(rule).alts = std::move(alternatives);
  rules_.at(rule).defined = true;
}

uint32_t GrammarBuilder::add_rule(std::string name, std::vector<Sequence> alternatives) {
  const uint32_t r = add_rule(std::move(name));
  define(r, std::move(alternatives));
  return r;
}

namespace {

bool refers(const Element& e) { return e.kind == ElemKind::kRule || e.kind == ElemKind::kRepeat; }

}  // namespace

Result<std::shared_ptr<const Grammar>> GrammarBuilder::build(uint32_t root) const {
  const size_t n = rules_.size();
  if (root >= n) return error("grammar root rule {} does not exist ({} rules)", root, n);

  // Reachable rules, each checked for definition and well-formed elements.
  std::vector<bool> reach(n, false);
  std::vector<uint32_t> todo{root};
  reach[root] = true;
  while (!todo.empty()) {
    const uint32_t r = todo.back();
    todo.pop_back();
    const Rule& rule = rules_[r];
    if (!rule.defined) return error("grammar rule '{}' is used but never defined", rule.name);
    if (rule.alts.empty()) return error("grammar rule '{}' has no alternatives", rule.name);
    for (const Sequence& seq : rule.alts) {
      for (const Element& e : seq) {
        switch (e.kind) {
          case ElemKind::kLiteral:
            if (e.bytes.empty()) return error("grammar rule '{}' has an empty literal", rule.name);
            break;
          case ElemKind::kByteSet:
            if (e.set.none()) return error("grammar rule '{}' has an empty byte set", rule.name);
            break;
          case ElemKind::kRepeat:
            if (e.min > e.max) return error("grammar rule '{}': repeat min {} > max {}", rule.name, e.min, e.max);
            break;
          case ElemKind::kString:
            if (e.min > e.max) return error("grammar rule '{}': string min {} > max {}", rule.name, e.min, e.max);
            break;
          case ElemKind::kInteger:
            if (e.range.min && e.range.max && *e.range.min > *e.range.max)
              return error("grammar rule '{}': integer min {} > max {}", rule.name, *e.range.min, *e.range.max);
            break;
          case ElemKind::kEnd:
            return error("grammar rule '{}' has an element of kind end", rule.name);
          default:
            break;
        }
        if (refers(e)) {
          if (e.rule >= n) return error("grammar rule '{}' refers to rule {}, which does not exist", rule.name, e.rule);
          if (!reach[e.rule]) {
            reach[e.rule] = true;
            todo.push_back(e.rule);
          }
        }
      }
    }
  }

  // Nullable and productive rules (fixpoints).
  std::vector<bool> nullable(n, false), productive(n, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (uint32_t r = 0; r < n; ++r) {
      if (!reach[r]) continue;
      for (const Sequence& seq : rules_[r].alts) {
        bool null_all = true, prod_all = true;
        for (const Element& e : seq) {
          const bool null_e = e.kind == ElemKind::kRule     ? nullable[e.rule]
                              : e.kind == ElemKind::kRepeat ? (e.min == 0 || nullable[e.rule])
                                                            : false;
          const bool prod_e = e.kind == ElemKind::kRule     ? productive[e.rule]
                              : e.kind == ElemKind::kRepeat ? (e.min == 0 || productive[e.rule])
                                                            : true;
          null_all = null_all && null_e;
          prod_all = prod_all && prod_e;
        }
        if (null_all && !nullable[r]) nullable[r] = changed = true;
        if (prod_all && !productive[r]) productive[r] = changed = true;
      }
    }
  }

  // Repeats of a nullable item would loop without consuming input; left recursion likewise.
  std::vector<std::vector<uint32_t>> heads(n);
  for (uint32_t r = 0; r < n; ++r) {
    if (!reach[r]) continue;
    for (const Sequence& seq : rules_[r].alts) {
      for (const Element& e : seq) {
        if (e.kind == ElemKind::kRepeat && nullable[e.rule])
          return error("grammar rule '{}' repeats rule '{}', which can match nothing", rules_[r].name,
                       rules_[e.rule].name);
        if (refers(e)) heads[r].push_back(e.rule);
        const bool null_e = e.kind == ElemKind::kRule ? nullable[e.rule] : e.kind == ElemKind::kRepeat && e.min == 0;
        if (!null_e) break;
      }
    }
  }
  std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the path, 2 done
  std::string cycle;
  std::function<bool(uint32_t)> dfs = [&](uint32_t r) {
    color[r] = 1;
    for (uint32_t s : heads[r]) {
      if (color[s] == 1) {
        cycle = rules_[s].name;
        return true;
      }
      if (color[s] == 0 && dfs(s)) return true;
    }
    color[r] = 2;
    return false;
  };
  for (uint32_t r = 0; r < n; ++r) {
    if (reach[r] && color[r] == 0 && dfs(r))
      return error("grammar rule '{}' reaches itself without consuming input (left recursion)", cycle);
  }

  if (!productive[root]) return error("grammar rule '{}' matches no finite byte string", rules_[root].name);

  // Flatten: every kept alternative is a run of elements ending in kEnd.
  auto g = std::make_shared<Grammar>();
  struct RepeatFix {
    uint32_t node;
    uint32_t rule;
    std::string sep;
  };
  std::vector<RepeatFix> repeats;
  g->rule_alts_.push_back(0);
  for (uint32_t r = 0; r < n; ++r) {
    g->rule_names_.push_back(rules_[r].name);
    if (reach[r] && productive[r]) {
      for (const Sequence& seq : rules_[r].alts) {
        bool keep = true;
        for (const Element& e : seq) {
          if (e.kind == ElemKind::kRule && !productive[e.rule]) keep = false;
          if (e.kind == ElemKind::kRepeat && e.min > 0 && !productive[e.rule]) keep = false;
        }
        if (!keep) continue;
        g->alt_nodes_.push_back(uint32_t(g->elems_.size()));
        for (const Element& e : seq) {
          Elem x;
          x.kind = e.kind;
          switch (e.kind) {
            case ElemKind::kLiteral:
              x.a = uint32_t(g->literals_.size());
              x.b = uint32_t(e.bytes.size());
              g->literals_ += e.bytes;
              break;
            case ElemKind::kByteSet:
              x.a = uint32_t(g->byte_sets_.size());
              g->byte_sets_.push_back(e.set);
              break;
            case ElemKind::kRule:
              x.a = e.rule;
              break;
            case ElemKind::kRepeat:
              x.c = e.min;
              x.d = productive[e.rule] ? e.max : 0;
              repeats.push_back({uint32_t(g->elems_.size()), e.rule, e.bytes});
              break;
            case ElemKind::kString:
              x.c = e.min;
              x.d = e.max;
              break;
            case ElemKind::kInteger:
              x.a = uint32_t(g->int_ranges_.size());
              g->int_ranges_.push_back(e.range);
              break;
            default:
              break;
          }
          g->elems_.push_back(x);
        }
        g->elems_.push_back(Elem{});
      }
    }
    g->rule_alts_.push_back(uint32_t(g->alt_nodes_.size()));
  }
  auto add_seq = [&](std::vector<Elem> seq) {
    const auto node = uint32_t(g->elems_.size());
    for (const Elem& e : seq) g->elems_.push_back(e);
    g->elems_.push_back(Elem{});
    return node;
  };
  for (const RepeatFix& f : repeats) {
    const Elem item{ElemKind::kRule, f.rule, 0, 0, 0};
    const uint32_t item_node = add_seq({item});
    uint32_t sep_node = item_node;
    if (!f.sep.empty()) {
      const Elem lit{ElemKind::kLiteral, uint32_t(g->literals_.size()), uint32_t(f.sep.size()), 0, 0};
      g->literals_ += f.sep;
      sep_node = add_seq({lit, item});
    }
    g->elems_[f.node].a = item_node;
    g->elems_[f.node].b = sep_node;
  }
  g->start_node_ = add_seq({Elem{ElemKind::kRule, root, 0, 0, 0}});
  return std::shared_ptr<const Grammar>(std::move(g));
}

}  // namespace tachyon::grammar
