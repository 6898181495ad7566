"""`python -m bot` is `liaison-bot`."""

import sys

from bot.cli import main

sys.exit(main())
