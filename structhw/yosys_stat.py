"""Cell counts from yosys ``stat`` output, for synthesis benchmarks and the report."""

import re


def parse_stat(text: str, cells) -> dict:
    """Count of each cell type in ``cells`` (0 when absent) from yosys ``stat`` text, whose rows
    read either ``NAME  COUNT`` or ``COUNT  [AREA]  NAME`` depending on the yosys version."""
    counts = {cell: 0 for cell in cells}
    for line in text.splitlines():
        for cell in cells:
            found = (re.fullmatch(rf"\s*{cell}\s+(\d+)\s*", line)
                     or re.fullmatch(rf"\s*(\d+)\s+(?:\S+\s+)?{cell}\s*", line))
            if found:
                counts[cell] = int(found.group(1))
    return counts
