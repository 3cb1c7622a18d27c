"""Recordings: where their audio is kept (a local folder, an S3-compatible bucket), how a file is
told to be audio, how a PBX's link is vetted and downloaded, how an upload is kept, and what a
channel's settings say of its recordings. Mechanisms only: the Temporal activities that use
them are `activities.recordings`; the rows that name a kept file are the store's (`crm`).
"""
