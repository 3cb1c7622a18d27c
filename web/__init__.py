"""The pages for people, served by pbxhub itself: sign-in, calls, contacts and the admin's
pages, rendered on the server from sandboxed Jinja2 templates with static files shipped in the
package (no CDN). What a page shows follows the API's rights (`api.access`, `crm.access`)."""
