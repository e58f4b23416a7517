"""A host-side UART on the simulated pins: async helpers that drive a DUT's rx line and read
its tx line bit by bit (8N1, ``divisor`` cycles per bit)."""


async def uart_send(ctx, line, payload: bytes, divisor: int, gap_bits: int = 0):
    """Drive ``line`` with each byte of ``payload`` (start bit, 8 data bits LSB first, stop bit),
    idling ``gap_bits`` bit times between bytes."""
    for byte in payload:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1] * (1 + gap_bits):
            ctx.set(line, bit)
            await ctx.tick().repeat(divisor)


async def uart_receive(ctx, line, divisor: int) -> int:
    """Wait for a start bit on ``line`` and return the byte; raises AssertionError on a bad stop
    bit."""
    while ctx.get(line):
        await ctx.tick()
    await ctx.tick().repeat(divisor // 2)
    assert ctx.get(line) == 0, "glitch instead of a start bit"
    value = 0
    for i in range(8):
        await ctx.tick().repeat(divisor)
        value |= ctx.get(line) << i
    await ctx.tick().repeat(divisor)
    assert ctx.get(line) == 1, "stop bit is 0"
    return value


async def uart_collect(ctx, line, divisor: int, into: list):
    """Append every byte seen on ``line`` to ``into``, forever (run as a background testbench)."""
    while True:
        into.append(await uart_receive(ctx, line, divisor))
