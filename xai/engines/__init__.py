"""Where an audit's work runs: in this process or on a pool of Ray workers."""
