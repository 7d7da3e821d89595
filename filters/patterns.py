"""Text patterns shared by several filter families."""

import re

# a link of any scheme (https://, line://, fbrpc://) or a bare www. address, up to the next whitespace
URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+", re.IGNORECASE)
