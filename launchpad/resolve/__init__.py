"""Where the models a workflow names can come from, when the workflow carries no link for them.

A chain of sources, each answering candidates with their origin and how sure the match is
(candidates.py): the workflow's own links (workflow_links.py), the catalog (catalog_files.py),
ComfyUI-Manager's model list (manager_list.py), Civitai by hash (civitai.py) and the listings of
the Hugging Face repositories the catalog uses (hub_listings.py). chain.py asks them, what is on
this machine at once and the network in the background; workflow_models.py uses it.

The vocabulary every source speaks is here, importing nothing: the route table names it at
ComfyUI's import, which loads none of the sources (nor the catalog).
"""

HASH, EXACT, NAME = "hash", "exact", "name"
CERTAINTIES = (HASH, EXACT, NAME)  # surest first
# where a candidate came from, most trusted first: a tie in certainty goes to the earlier
ORIGINS = ("workflow", "catalog", "template", "huggingface", "manager", "civitai")
