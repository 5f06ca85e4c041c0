# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.

# Importing the module registers its HTTP routes on trytond's WSGI app.
from . import routes  # noqa: E402,F401
