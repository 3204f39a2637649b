"""A web view of HCPCS for people: server-rendered HTML pages over the Engine.

register(app) adds the pages to the FHIR app (api.create_app calls it); wants_html(request)
and page_for(request, engine) let the FHIR routes show a page to a browser that opens a
resource URL (/r4/CodeSystem/hcpcs-2020-01). Pages: docs/web.md.
"""

from terminology.web.routes import page_for, register, wants_html

__all__ = ["page_for", "register", "wants_html"]
