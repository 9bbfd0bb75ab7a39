"""Independent oracles used to cross-check exewhitelist against other implementations."""
