"""structhw: PyTorch CNNs to FPGA accelerators built on Structured Convolutions.

The data flows forward through the stages described in DESIGN.md: structure → regularization →
decompose → quant (golden integer model) → compiler → rtl_gen → sim → boards.
"""

__version__ = "0.1.0"
