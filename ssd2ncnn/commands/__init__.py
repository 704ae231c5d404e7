"""CLI subcommands, one module each; `ssd2ncnn.cli` registers every module's `command`."""
