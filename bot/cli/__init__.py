"""The `otklik` command line: argparse on top of everything, imported by nothing."""
