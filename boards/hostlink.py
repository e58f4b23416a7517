"""The host link: turns request frames from the UART into image pixels for the accelerator, and
the accelerator's logits into response frames (format: :mod:`structhw.boards.protocol`,
``docs/hostlink.md``).

:class:`HostLink` sits between byte streams and the accelerator's pixel/logit streams;
:class:`SerialAccelerator` adds the UART receiver and transmitter around it and the accelerator,
so its ports are the two serial lines (what a board top wires to the FTDI pins).
"""


from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError

from . import protocol
from .uart import UARTRx, UARTTx


def crc8_step(crc, byte):
    """Amaranth expression: CRC-8 (poly 0x07, see :func:`protocol.crc8`) of ``crc`` after one
    more ``byte`` (both 8-bit values). CRC-8 is linear over GF(2): each output bit is the XOR
    of the bits of ``crc ^ byte`` whose one-hot CRC has that bit set."""
    value = crc ^ byte
    columns = [protocol.crc8(bytes([1 << i])) for i in range(8)]
    return Cat(*(Cat(*(value[i] for i in range(8) if columns[i] >> j & 1)).xor()
                 for j in range(8)))


def accelerator_shape(accelerator) -> tuple:
    """(input channels C0, number of classes K) read from an accelerator's ``i`` and ``o``
    stream payloads (``data.ArrayLayout(signed(8), n)`` each)."""
    shapes = []
    for port in ("i", "o"):
        try:
            layout = accelerator.signature.members[port].signature.members["payload"].shape
        except (AttributeError, KeyError):
            raise ConfigError(f"accelerator: needs a stream port {port!r}") from None
        if not isinstance(layout, data.ArrayLayout) or layout.elem_shape != signed(8):
            raise ConfigError(f"accelerator port {port!r}: payload must be ArrayLayout(signed(8), n), "
                              f"got {layout!r}")
        shapes.append(layout.length)
    return tuple(shapes)


class HostLink(wiring.Component):
    """Frame parser and response generator between UART byte streams and the accelerator.

    One request is handled at a time: the image streams to the accelerator as it arrives (one
    pixel of C channels per beat), the checksum is checked at the end, the accelerator's logits
    are answered with a result frame, or with an error frame if the request was malformed (its
    logits are then dropped). After a bad sync or type byte the link drops bytes until the line
    has been quiet for ``timeout_cycles``; a frame that stops for ``timeout_cycles`` is answered
    with a timeout error, and its missing pixels are sent as zeros so the accelerator finishes
    the image and stays in step.

    Parameters
    ----------
    channels : int
        C, int8 channels per pixel.
    pixels : int
        H·W, pixels per image.
    num_classes : int
        K, logits per image.
    timeout_cycles : int
        Quiet line, in clock cycles, that ends a frame with a timeout (must exceed one byte time).

    Attributes
    ----------
    rx : In(stream.Signature(8))
        Bytes from the UART receiver.
    tx : Out(stream.Signature(8))
        Bytes to the UART transmitter.
    pixels : Out(stream.Signature(ArrayLayout(signed(8), C)))
        Image pixels to the accelerator, raster order.
    logits : In(stream.Signature(ArrayLayout(signed(8), K)))
        One beat of logits per image from the accelerator.
    predicted : Out(8)
        Class of the last result frame sent.
    error : Out(1)
        High when the last frame sent was an error frame.
    """

    def __init__(self, channels: int, pixels: int, num_classes: int, timeout_cycles: int):
        for name, value in (("channels", channels), ("pixels", pixels), ("num_classes", num_classes)):
            if value < 1:
                raise ConfigError(f"HostLink {name}={value}: must be at least 1")
        if num_classes > 256:
            raise ConfigError(f"HostLink num_classes={num_classes}: the class byte holds at most 256")
        if timeout_cycles < 2:
            raise ConfigError(f"HostLink timeout_cycles={timeout_cycles}: must be at least 2")
        self.channels = channels
        self.num_pixels = pixels
        self.num_classes = num_classes
        self.timeout_cycles = timeout_cycles
        super().__init__({
            "rx": In(stream.Signature(unsigned(8))),
            "tx": Out(stream.Signature(unsigned(8))),
            "pixels": Out(stream.Signature(data.ArrayLayout(signed(8), channels))),
            "logits": In(stream.Signature(data.ArrayLayout(signed(8), num_classes))),
            "predicted": Out(8),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        C, P, K = self.channels, self.num_pixels, self.num_classes
        byte = self.rx.payload
        got = Signal()
        m.d.comb += got.eq(self.rx.valid & self.rx.ready)

        quiet = Signal(range(self.timeout_cycles + 1))
        timed_out = Signal()
        with m.If(self.rx.valid):
            m.d.sync += quiet.eq(0)
        with m.Elif(quiet != self.timeout_cycles):
            m.d.sync += quiet.eq(quiet + 1)
        m.d.comb += timed_out.eq(quiet == self.timeout_cycles)

        crc = Signal(8)
        with m.If(got):
            m.d.sync += crc.eq(crc8_step(crc, byte))

        pixel = Signal(8 * C)
        chan = Signal(range(C))
        sent = Signal(range(P + 1))
        with m.If(self.pixels.ready):
            m.d.sync += self.pixels.valid.eq(0)

        def push_pixel(value):
            m.d.sync += [self.pixels.payload.eq(value), self.pixels.valid.eq(1), sent.eq(sent + 1)]

        code = Signal(8)
        discard_after = Signal()
        logits = Signal(8 * K)
        to_scan = Signal(8 * K)
        best = Signal(signed(8))
        best_idx = Signal(8)
        scan = Signal(range(K + 1))
        index = Signal(range(K + 6))
        tx_byte = Signal(8)
        tx_last = Signal()

        def fail(error_code, resync):
            m.d.sync += [code.eq(error_code), discard_after.eq(resync), index.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.rx.ready.eq(1)
                m.d.sync += [crc.eq(0), chan.eq(0), sent.eq(0), code.eq(0)]
                with m.If(got):
                    with m.If(byte == protocol.SYNC[0]):
                        m.next = "SYNC1"
                    with m.Else():
                        fail(protocol.ERROR_BAD_SYNC, 1)
                        m.next = "SEND"
            with m.State("SYNC1"):
                m.d.comb += self.rx.ready.eq(1)
                m.d.sync += crc.eq(0)
                with m.If(got):
                    with m.If(byte == protocol.SYNC[1]):
                        m.next = "TYPE"
                    with m.Else():
                        fail(protocol.ERROR_BAD_SYNC, 1)
                        m.next = "SEND"
                with m.Elif(timed_out):
                    fail(protocol.ERROR_TIMEOUT, 0)
                    m.next = "SEND"
            with m.State("TYPE"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(got):
                    with m.If(byte == protocol.TYPE_IMAGE):
                        m.next = "PAYLOAD"
                    with m.Else():
                        fail(protocol.ERROR_BAD_TYPE, 1)
                        m.next = "SEND"
                with m.Elif(timed_out):
                    fail(protocol.ERROR_TIMEOUT, 0)
                    m.next = "SEND"
            with m.State("PAYLOAD"):
                m.d.comb += self.rx.ready.eq(~self.pixels.valid)
                with m.If(got):
                    full = Signal(8 * C)
                    m.d.comb += full.eq(Cat(pixel[8:], byte) if C > 1 else byte)
                    m.d.sync += pixel.eq(full)
                    with m.If(chan == C - 1):
                        m.d.sync += chan.eq(0)
                        push_pixel(full)
                        with m.If(sent == P - 1):
                            m.next = "CHECK"
                    with m.Else():
                        m.d.sync += chan.eq(chan + 1)
                with m.Elif(timed_out):
                    m.d.sync += code.eq(protocol.ERROR_TIMEOUT)
                    m.next = "FILL"
            with m.State("FILL"):
                with m.If(sent == P):
                    m.next = "RESULT"
                with m.Elif(~self.pixels.valid | self.pixels.ready):
                    push_pixel(0)
            with m.State("CHECK"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(got):
                    with m.If(byte != crc):
                        m.d.sync += code.eq(protocol.ERROR_BAD_CHECKSUM)
                    m.next = "RESULT"
                with m.Elif(timed_out):
                    m.d.sync += code.eq(protocol.ERROR_TIMEOUT)
                    m.next = "RESULT"
            with m.State("RESULT"):
                m.d.comb += self.logits.ready.eq(1)
                with m.If(self.logits.valid):
                    payload = self.logits.payload.as_value()
                    m.d.sync += [logits.eq(payload), to_scan.eq(payload >> 8),
                                 best.eq(self.logits.payload[0]), best_idx.eq(0), scan.eq(1),
                                 index.eq(0), discard_after.eq(0)]
                    m.next = "ARGMAX"
            with m.State("ARGMAX"):
                # The logits still to compare shift past a fixed 8-bit window: no K-way mux
                # stands between the register and the comparison (it cost the 100 MHz build).
                with m.If(scan == K):
                    m.next = "SEND"
                with m.Else():
                    candidate = to_scan[:8].as_signed()
                    with m.If(candidate > best):
                        m.d.sync += [best.eq(candidate), best_idx.eq(scan)]
                    m.d.sync += [scan.eq(scan + 1), to_scan.eq(to_scan >> 8)]
            with m.State("SEND"):
                is_error = code != 0
                last = Signal()
                next_byte = Signal(8)
                m.d.comb += last.eq(index == Mux(is_error, 4, K + 4))
                with m.Switch(index):
                    with m.Case(0):
                        m.d.comb += next_byte.eq(protocol.SYNC[0])
                    with m.Case(1):
                        m.d.comb += next_byte.eq(protocol.SYNC[1])
                    with m.Case(2):
                        m.d.comb += next_byte.eq(
                            Mux(is_error, protocol.TYPE_ERROR, protocol.TYPE_RESULT))
                    with m.Default():
                        with m.If(last):
                            m.d.comb += next_byte.eq(crc)
                        with m.Elif(is_error):
                            m.d.comb += next_byte.eq(code)
                        with m.Elif(index == K + 3):
                            m.d.comb += next_byte.eq(best_idx)
                        with m.Else():
                            m.d.comb += next_byte.eq(logits[:8])
                m.d.sync += [tx_byte.eq(next_byte), tx_last.eq(last)]
                m.next = "SEND_BYTE"
            with m.State("SEND_BYTE"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(tx_byte)]
                with m.If(self.tx.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index < 2):
                        m.d.sync += crc.eq(0)
                    with m.Else():
                        m.d.sync += crc.eq(crc8_step(crc, tx_byte))
                    with m.If((index >= 3) & (index < K + 3)):
                        m.d.sync += logits.eq(logits >> 8)
                    with m.If(tx_last):
                        m.d.sync += [self.error.eq(code != 0),
                                     self.predicted.eq(Mux(code != 0, self.predicted, best_idx))]
                        with m.If(discard_after):
                            m.next = "DISCARD"
                        with m.Else():
                            m.next = "IDLE"
                    with m.Else():
                        m.next = "SEND"
            with m.State("DISCARD"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(timed_out):
                    m.next = "IDLE"
        return m


class SerialAccelerator(wiring.Component):
    """An accelerator behind a UART: receiver → :class:`HostLink` ⇄ accelerator, → transmitter.

    Parameters
    ----------
    accelerator : wiring.Component
        Ports ``i`` (stream of ``ArrayLayout(signed(8), C)`` pixels) and ``o`` (stream of one
        ``ArrayLayout(signed(8), K)`` beat of logits per image).
    pixels : int
        H·W, pixels per image.
    divisor : int
        Clock cycles per UART bit (``clock_hz / baud``).
    timeout_cycles : int, optional
        Quiet line that ends a frame; default 2000 bit times.

    Attributes
    ----------
    rx : In(1)
        Serial line from the host.
    tx : Out(1)
        Serial line to the host.
    predicted : Out(8)
        Class of the last result.
    error : Out(1)
        The last response was an error frame.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    predicted: Out(8)
    error: Out(1)

    def __init__(self, accelerator, pixels: int, divisor: int, timeout_cycles: int | None = None):
        self.accelerator = accelerator
        self.channels, self.num_classes = accelerator_shape(accelerator)
        self.num_pixels = pixels
        self.divisor = divisor
        self.timeout_cycles = timeout_cycles if timeout_cycles is not None else 2000 * divisor
        if self.timeout_cycles <= 12 * divisor:
            raise ConfigError(f"SerialAccelerator timeout_cycles={self.timeout_cycles}: must exceed "
                              f"one byte time ({10 * divisor} cycles) with margin (> {12 * divisor})")
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = uart_rx = UARTRx(self.divisor)
        m.submodules.uart_tx = uart_tx = UARTTx(self.divisor)
        m.submodules.link = link = HostLink(self.channels, self.num_pixels, self.num_classes,
                                            self.timeout_cycles)
        m.submodules.accelerator = self.accelerator
        m.d.comb += [uart_rx.rx.eq(self.rx), self.tx.eq(uart_tx.tx),
                     self.predicted.eq(link.predicted), self.error.eq(link.error)]
        wiring.connect(m, uart_rx.o, link.rx)
        wiring.connect(m, link.tx, uart_tx.i)
        wiring.connect(m, link.pixels, self.accelerator.i)
        wiring.connect(m, self.accelerator.o, link.logits)
        return m
