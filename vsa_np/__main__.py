"""`python -m vsa_np` is the same as the `vsa-np` console script."""
import sys

from vsa_np.cli import main

sys.exit(main())
