"""The comparative report: the structured and the dense accelerator of one model, measured side by
side on one board.

Three accelerators are planned, built and simulated (:data:`VARIANTS`):

- ``structured``: the structured model at the highest throughput the board's budget allows;
- ``structured_equal``: the structured model at the dense accelerator's throughput — planned under
  the smallest DSP budget whose plan reaches the dense plan's cycles per image (the board's LUT4,
  FF and EBR budget unchanged, see :func:`plan_at_cycles`). The DSP target compares this build
  with the dense one, whose simulated cycles per image it must match or beat;
- ``dense``: the dense baseline of the same model at the highest throughput the board allows
  (a checkpoint's dense model; a zoo or ``.py`` model's undecomposed self).

The model may be a chain (planned by :mod:`structhw.compiler`) or a graph network (residual adds,
pooling, shortcuts: :mod:`structhw.graph.plan`); every step dispatches on the network and plan
types, so the same report covers both.

:func:`collect_report` gathers every figure into one JSON-able dict:

- ``model``, ``data``: the model's name and the data set (``--data``) of its test images;
- ``accuracy``: dense float, structured float, decomposed float, int8 golden and the hardware
  (simulated RTL, compared logit by logit with the golden model) — fractions of the test images;
  ``int8_logit_rel_rms`` for a graph network (golden vs float logits, relative RMS);
- ``variants.<variant>``: the plan (``planned_for``: the cycles per image it was planned to reach
  and the DSP budget found, ``structured_equal`` only), nextpnr's utilisation and Fmax of the
  board build (cached, see :mod:`structhw.report.cache`), the simulation (measured cycles per
  image, logits compared with the golden model) and the throughput figures derived from them;
- ``dense_equal_throughput``: plan level only, never built: the dense model re-planned under the
  smallest DSP budget that gives it the structured plan's cycles per image (it may exceed the
  board);
- ``sumpool``: the structured plan with every layer's sum-pool forced to the adder tree and to
  the separable arch (lanes and multipliers unchanged), per arch the board build (nextpnr, as the
  variants; the arch the compiler chose everywhere is the ``structured`` build itself) and a yosys
  ``synth_ecp5`` of the network alone;
- ``complexity``: the paper's per-layer counts (params, mults, adds) structured vs dense;
- ``targets``: the issue's acceptance targets, each PASS, FAIL or MISSING;
- ``info``: further comparisons that are not targets (max-throughput structured vs dense, the
  plan-level dense re-plan), each ``{"name", "value", "basis"}``;
- ``missing``: for every figure that could not be measured, why.

:func:`render_markdown`, :func:`render_readme_fragment` and
:func:`~structhw.report.plots.write_plots` turn that dict into ``report.md``, the README's results
section and PNG plots; :func:`write_report` writes them all.

One module per job: :mod:`~structhw.report.cache` (board builds and their cache),
:mod:`~structhw.report.planning`, :mod:`~structhw.report.sources` and
:mod:`~structhw.report.graph_source` (what the model provides; :mod:`~structhw.report.pick_source`
picks one for MODEL),
:mod:`~structhw.report.sumpool` (the arch comparison), :mod:`~structhw.report.collect`,
:mod:`~structhw.report.targets`, :mod:`~structhw.report.render` and
:mod:`~structhw.report.readme` (text), :mod:`~structhw.report.plots`.
"""

from ..jsonfile import write_json  # noqa: F401  (tests write fake build reports through it)
from .cache import BUILD_KEY, build_key, cached_board_build
from .collect import collect_report, throughput
from .missing import Missing as _Missing
from .planning import plan_at_cycles
from .plots import PLOTS
from .readme import RESULTS_END, RESULTS_START, render_readme_fragment, replace_results_section
from .render import render_markdown, write_report
from .sumpool import compare_sumpool_archs as _compare_sumpool_archs
from .sumpool import with_sumpool_arch
from .targets import EQUAL_DSP_NAME, EQUAL_OPS_NAME, check_targets, exit_code, info_rows
from .variants import VARIANTS

__all__ = ["BUILD_KEY", "EQUAL_DSP_NAME", "EQUAL_OPS_NAME", "PLOTS", "RESULTS_END",
           "RESULTS_START", "VARIANTS", "build_key", "cached_board_build", "check_targets",
           "collect_report", "exit_code", "info_rows", "plan_at_cycles", "render_markdown",
           "render_readme_fragment", "replace_results_section", "throughput",
           "with_sumpool_arch", "write_report"]
