"""``python -m pipeline.llm.sim``: run the simulator (what ``SimulatorProcess`` launches)."""

import sys

from pipeline.llm.sim.cli import main

sys.exit(main())
