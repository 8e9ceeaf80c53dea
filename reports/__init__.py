"""Exports, the quarterly analysis, the Appendix 2 report and charts."""
