"""8N1 UART receiver and transmitter with byte streams.

The bit period is ``divisor`` clock cycles: ``divisor = round(clock_hz / baud)`` (see
:func:`uart_divisor`). Line idle is 1; a byte is a start bit (0), eight data bits LSB first, one
stop bit (1).
"""


from amaranth import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clock_hz``; the rate error must stay within 2 %."""
    divisor = round(clock_hz / baud)
    if divisor < 4:
        raise ConfigError(f"baud {baud}: needs at least 4 clock cycles per bit, "
                          f"{clock_hz / 1e6:g} MHz gives {clock_hz / baud:.2f}")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        raise ConfigError(f"baud {baud}: {clock_hz / 1e6:g} MHz / {divisor} is off by {error:.1%} (max 2 %)")
    return divisor


class UARTRx(wiring.Component):
    """8N1 receiver.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (≥ 4).

    Attributes
    ----------
    rx : In(1)
        The serial line (asynchronous; synchronised inside).
    o : Out(stream.Signature(8))
        Received bytes. A byte not taken before the next one completes is lost
        (``overrun`` pulses).
    frame_error : Out(1)
        Pulses for one cycle when a byte's stop bit was 0 (the byte is dropped).
    overrun : Out(1)
        Pulses for one cycle when a byte was dropped because ``o`` was still full.
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(unsigned(8)))
    frame_error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        if divisor < 4:
            raise ConfigError(f"UARTRx divisor {divisor}: needs at least 4 cycles per bit")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bit = Signal(range(9))
        shift = Signal(8)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq((shift >> 1) | (line << 7)), timer.eq(self.divisor - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(~line):
                        m.d.comb += self.frame_error.eq(1)
                        m.next = "BREAK"
                    with m.Else():
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.comb += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (≥ 1).

    Attributes
    ----------
    i : In(stream.Signature(8))
        Bytes to send; one is taken whenever the transmitter is idle.
    tx : Out(1)
        The serial line (idle high).
    """

    i: In(stream.Signature(unsigned(8)))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        if divisor < 1:
            raise ConfigError(f"UARTTx divisor {divisor}: must be at least 1")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        frame = Signal(10, init=0x3FF)
        bits_left = Signal(range(11))

        m.d.comb += self.tx.eq(frame[0])
        with m.If(bits_left == 0):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [frame.eq((1 << 9) | (self.i.payload << 1)), bits_left.eq(10),
                             timer.eq(self.divisor - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [frame.eq((frame >> 1) | (1 << 9)), bits_left.eq(bits_left - 1),
                         timer.eq(self.divisor - 1)]
        return m
