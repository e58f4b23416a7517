"""structhw.boards: the accelerator on real boards.

- :mod:`.registry` — supported boards (``get_board``, ``board_names``, ``smallest_fitting``).
- :mod:`.uart`, :mod:`.hostlink`, :mod:`.protocol` — the UART host link (gateware and host side;
  frame format in ``docs/hostlink.md``).
- :mod:`.pll`, :mod:`.top` — clocking and the board top around an accelerator.
- :mod:`.build`, :mod:`.flow` — bitstream build with the YoWASP tools and nextpnr's report.
"""
