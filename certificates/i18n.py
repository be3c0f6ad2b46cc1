"""The certificates' translation domain: its own catalog (``certificates/locale``), then the shared kernel's and the
register's.

Modules of this package import ``gettext as _`` from here, never from :mod:`kernel.i18n`, so that a phrase another
package words differently keeps this package's wording.
"""

from __future__ import annotations

from kernel.i18n import domain

_domain = domain("certificates")
gettext = _domain.gettext
ngettext = _domain.ngettext
