"""``python -m ditp_model.cli …`` runs the ``ditp-model`` command."""

import sys

from ditp_model.cli import main

sys.exit(main())
