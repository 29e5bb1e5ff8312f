"""Where the models a workflow names can come from, when the workflow carries no link for them.

A chain of sources, each answering candidates with their origin and how sure the match is
(candidates.py): the workflow's own links (workflow_links.py), the catalog (catalog_files.py),
ComfyUI-Manager's model list (manager_list.py), Civitai by hash (civitai.py) and the listings of
the Hugging Face repositories the catalog uses (hub_listings.py). chain.py asks them, what is on
this machine at once and the network in the background; workflow_models.py uses it. Nothing is
imported here, so the route table can name the certainties without loading the sources.
"""
