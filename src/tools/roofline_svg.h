// `tachyon bench --svg FILE`: the bench's roofline as a self-contained SVG (no scripts, fonts or other
// files). Log-log axes: x = arithmetic intensity (FLOP per byte read), y = GFLOP/s. The roof is
// min(peak, bandwidth x intensity) from the bench's probes, drawn as one polyline; each op family's
// batch-1 decode point (its FLOPs and bytes per token over its wall time per token) and each kind of
// step (decode, verify 2 and 4, the batch step, prefill) is a labelled circle. Families the plot cannot
// place on log axes (no FLOPs counted, no bytes or no time) are named in a note under the plot.
//
// Elements a reader (or the tests) can pick out: the roof is <polyline class="roof">, every point is
// <circle class="family|step" data-label="NAME" cx=... cy=...> followed by its <text> label.
#pragma once

#include <string>
#include <vector>

#include "tools/bench.h"

namespace tachyon::runtime {

struct RooflineInfo {
  std::string model;  // shown in the title (e.g. the checkpoint folder's name)
  std::string date;   // shown in the title (e.g. 2026-12-07)
};

struct RooflinePoint {
  std::string label;
  bool step = false;   // a whole step (else an op family)
  double intensity = 0;  // FLOP per byte
  double gflops = 0;     // achieved GFLOP/s
};

// The points the plot shows, families first (kOpFamilyNames order) then steps; a point with a value the
// log axes cannot show has intensity or gflops 0.
std::vector<RooflinePoint> roofline_points(const BenchResult& r);

std::string roofline_svg(const BenchResult& r, const RooflineInfo& info);

}  // namespace tachyon::runtime
