import sys

from incident_evals.cli import main

sys.exit(main())
