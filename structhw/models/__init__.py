"""Shipped trained models (the digits demo) and their metrics."""
