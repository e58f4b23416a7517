"""Board top: PLL dividers within the ECP5's limits, clock/UART choices per board, and the top
elaborating for every board's platform."""

import pytest
from hypothesis import given, strategies as st

from structhw.boards.pll import (OUT_MAX_MHZ, PFD_MIN_MHZ, VCO_MAX_MHZ, VCO_MIN_MHZ,
                                 ecp5_pll_params)
from structhw.boards.registry import BOARDS, get_board
from structhw.boards.top import BoardTop, image_pixels
from structhw.errors import ConfigError
from tests.boards.standin import StandInAccelerator


@given(f_in=st.sampled_from([12.0, 25.0, 48.0]), f_out=st.floats(10.0, 300.0))
def test_pll_dividers_respect_limits_and_land_close(f_in, f_out):
    p = ecp5_pll_params(f_in, f_out)
    assert f_in / p.clki_div >= PFD_MIN_MHZ
    assert VCO_MIN_MHZ <= p.f_vco_mhz <= VCO_MAX_MHZ
    assert p.f_out_mhz == pytest.approx(f_in * p.clkfb_div / p.clki_div)
    assert p.f_vco_mhz == pytest.approx(p.f_out_mhz * p.clkop_div)
    finest_step = f_in / int(f_in // PFD_MIN_MHZ)
    assert abs(p.f_out_mhz - f_out) <= finest_step / 2 + 1e-9


def test_pll_exact_for_the_usual_targets():
    for target in (50, 100, 125, 150):
        assert ecp5_pll_params(25, target).f_out_mhz == target
    with pytest.raises(ConfigError, match="3.125"):
        ecp5_pll_params(25, OUT_MAX_MHZ + 1)


def standin():
    return StandInAccelerator(1, 64, 10)


def inspected(elaboratable):
    """Mark an elaboratable that a test only inspects, so Amaranth does not warn it was unused."""
    elaboratable._MustUse__silence = True
    return elaboratable


def test_top_uses_a_pll_on_ecp5_and_the_board_clock_on_ice40():
    top = inspected(BoardTop("ulx3s", standin, target_mhz=100, image_shape=(1, 8, 8)))
    assert top.pll is not None and top.clock_mhz == 100 and top.divisor == 868
    assert inspected(BoardTop("ulx3s", standin, image_shape=(1, 8, 8))).pll is None
    assert inspected(BoardTop("icebreaker", standin, target_mhz=12, image_shape=(1, 8, 8))).pll is None
    with pytest.raises(ConfigError, match="icebreaker"):
        BoardTop("icebreaker", standin, target_mhz=50, image_shape=(1, 8, 8))


def test_image_shape_must_be_known():
    assert image_pixels(inspected(standin()), (1, 8, 8)) == 64
    with pytest.raises(ConfigError, match="image_shape"):
        image_pixels(inspected(standin()))


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_top_elaborates_for_every_board(name):
    board = get_board(name)
    target = 100 if board.family == "ecp5" else None
    plan = board.platform().build(BoardTop(board, standin, target_mhz=target, image_shape=(1, 8, 8)),
                                  do_build=False)
    lpf_or_pcf = next(text for path, text in plan.files.items() if path.endswith((".lpf", ".pcf")))
    assert "uart_0__rx" in lpf_or_pcf and "uart_0__tx" in lpf_or_pcf
    rtlil = plan.files["top.il"]
    if board.family == "ecp5":
        assert "EHXPLLL" in rtlil
