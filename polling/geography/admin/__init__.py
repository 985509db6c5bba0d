"""Admin for geography and elections, sized for a county commissioner's day and for national row counts.

Large foreign keys (counties, precincts, polling places, elections) are chosen by autocomplete, never from a full
<select>. Changelists join what they display (``list_select_related``) and defer the geometry they do not show, so
a page of precincts never loads county boundaries. Change pages for counties, precincts and polling places show a
static SVG map preview (``previews``, drawn by ``polling.geometry.svg``; display only: compliance is decided in
``polling.geometry``).

``base`` holds what every page shares (version bump on write, deferred geometry, counts, the county filter),
``forms`` the longitude/latitude point forms; importing this package registers the pages of ``areas`` (states,
buffer rules, counties, precincts), ``places`` (polling places, entrances) and ``elections`` (elections, precinct
assignments).
"""

from polling.geography.admin import areas, elections, places

__all__ = ["areas", "elections", "places"]
