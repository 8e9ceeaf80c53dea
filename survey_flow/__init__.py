"""The questionnaire of Appendix 1 as data, and a pure engine that walks it (no I/O)."""
