"""The board top: clock (PLL where the board's oscillator is slower than the target), reset, the
UART host link on the board's USB-serial pins, and LEDs showing the predicted class, around an
accelerator."""

from amaranth import ClockDomain, Elaboratable, Module
from amaranth.lib import io

from structhw.errors import ConfigError

from .hostlink import SerialAccelerator
from .pll import ECP5ClockDomain, ecp5_pll_params
from .registry import BoardInfo, get_board
from .uart import uart_divisor

DEFAULT_BAUD = 115200


def image_pixels(accelerator, image_shape=None) -> int:
    """H·W of the accelerator's input image: from ``image_shape`` (C, H, W) if given, else the
    accelerator's ``image_shape`` or ``input_shape`` attribute, else ``plan.qnet.input_shape``
    (a :class:`structhw.rtl_gen.network.Network`)."""
    shape = image_shape
    for attr in ("image_shape", "input_shape"):
        if shape is None:
            shape = getattr(accelerator, attr, None)
    if shape is None:
        qnet = getattr(getattr(accelerator, "plan", None), "qnet", None)
        shape = getattr(qnet, "input_shape", None)
    if shape is None or len(shape) != 3:
        raise ConfigError("board top: the accelerator's input image shape (C, H, W) is unknown; "
                          "pass image_shape=(C, H, W)")
    return int(shape[1]) * int(shape[2])


def clock_plan(board: BoardInfo, target_mhz=None):
    """(PLL setting or None, resulting clock in MHz) for running ``board`` at ``target_mhz``."""
    if target_mhz is None or abs(target_mhz - board.clock_mhz) < 1e-9:
        return None, board.clock_mhz
    if board.family == "ecp5":
        pll = ecp5_pll_params(board.clock_mhz, target_mhz)
        return pll, pll.f_out_mhz
    raise ConfigError(f"target {target_mhz} MHz on {board.name}: only the board clock "
                      f"({board.clock_mhz:g} MHz) is supported on {board.family}")


class BoardTop(Elaboratable):
    """An accelerator on a board, talking to the host over the board's UART.

    Parameters
    ----------
    board : BoardInfo or str
        The board (see :mod:`structhw.boards.registry`).
    accelerator_factory : callable
        Returns a new accelerator component (ports ``i``/``o``, see
        :class:`structhw.boards.hostlink.SerialAccelerator`).
    target_mhz : float, optional
        Frequency of the ``sync`` domain. On ECP5 boards an EHXPLLL makes it from the board
        clock (its closest setting; :attr:`clock_mhz` is the exact value); on other boards it
        must equal the board clock. Default: the board clock, no PLL.
    image_shape : tuple, optional
        (C, H, W) of one input image, if the accelerator does not say (see :func:`image_pixels`).
    baud : int
        UART rate in bit/s (8N1).

    Attributes
    ----------
    clock_mhz : float
        The ``sync`` clock's frequency.
    pll : PLLParams or None
        The PLL setting, when a PLL is used.
    """

    def __init__(self, board, accelerator_factory, *, target_mhz=None, image_shape=None,
                 baud: int = DEFAULT_BAUD):
        self.accelerator_factory = accelerator_factory
        self.image_shape = image_shape
        self.baud = baud
        try:
            self.board: BoardInfo = board if isinstance(board, BoardInfo) else get_board(board)
            self.pll, self.clock_mhz = clock_plan(self.board, target_mhz)
            self.divisor = uart_divisor(self.clock_mhz * 1e6, baud)
        except ConfigError:
            self._MustUse__silence = True  # rejected, so never elaborated: no "unused" warning
            raise

    def elaborate(self, platform):
        m = Module()
        if self.pll is not None:
            clk_io = platform.request(platform.default_clk, dir="-")
            m.domains.sync = ClockDomain("sync", reset_less=True)
            m.submodules.clocking = ECP5ClockDomain(clk_io, self.pll)

        accelerator = self.accelerator_factory()
        m.submodules.serial = serial = SerialAccelerator(
            accelerator, pixels=image_pixels(accelerator, self.image_shape), divisor=self.divisor,
            timeout_cycles=int(self.clock_mhz * 1e6 * 0.05))

        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.uart_tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [serial.rx.eq(rx_buf.i), tx_buf.o.eq(serial.tx)]

        led_ports = [platform.request("led", i, dir="-") for i in range(16)
                     if ("led", i) in platform.resources]
        if not led_ports and ("rgb_led", 0) in platform.resources:
            rgb = platform.request("rgb_led", 0, dir="-")
            led_ports = [rgb.r, rgb.g, rgb.b]
        leds = []
        for i, port in enumerate(led_ports):
            m.submodules[f"led_buf_{i}"] = buf = io.Buffer("o", port)
            leds.append(buf.o)
        if leds:
            class_leds, error_led = (leds[:-1], leds[-1]) if len(leds) > 1 else (leds, None)
            m.d.comb += [led.eq(serial.predicted[i]) for i, led in enumerate(class_leds[:8])]
            if error_led is not None:
                m.d.comb += error_led.eq(serial.error)
        return m
