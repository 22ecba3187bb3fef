"""User errors on the command line: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable


class UserError(Exception):
  """A problem with the user's input or settings, reported in one line."""


def report_user_errors(main: Callable) -> Callable:
  """Wraps an absl `main(argv)`: UserError, ValueError and FileNotFoundError (what the
  package raises for bad input) end the program with `<prog>: error: <message>`, status 2."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except (UserError, ValueError, FileNotFoundError) as e:
      print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
      sys.exit(2)

  return wrapped
