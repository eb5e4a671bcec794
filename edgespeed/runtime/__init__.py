"""The runtime: packets, rings, buffer pools, one worker per node, and the scheduler."""
