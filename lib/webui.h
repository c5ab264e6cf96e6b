/* webui.h — the web UI's static files (web/), served by the broker and by
 * every connector.
 *
 * Two routes: GET / answers APP/index.html of the web root (APP is
 * "broker" or "connector"), GET /ui/{path*} any file below the web root
 * (/ui/common/api.js → WEB_ROOT/common/api.js).  Paths with an empty,
 * "." or ".." segment, or a segment starting with ".", and anything that
 * resolves outside the root are answered 404, like missing files.
 * Answers carry a strict Content-Security-Policy (default-src 'self'),
 * an ETag and Last-Modified (If-None-Match / If-Modified-Since → 304) and
 * Cache-Control: no-cache, so a browser revalidates and never runs stale
 * code after an upgrade.
 */
#ifndef AGORA_WEBUI_H
#define AGORA_WEBUI_H

#include "http.h"

/* The Content-Security-Policy sent with every UI file. */
#define AGORA_WEBUI_CSP                                                                      \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "    \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "       \
	"frame-ancestors 'none'"

/* Where the UI lives when --web-root is not given: web/ of the source
 * tree when the program runs from it (./web, or ../../web next to
 * build/bin/PROGRAM), else the installed AGORA_SHARE_DIR/web.  Heap string. */
char *agora_webui_default_root(void);

/* Set the web root and the application whose index.html GET / answers
 * ("broker" or "connector").  Call once before serving; both strings are
 * copied.  Returns false (and logs) when root holds no APP/index.html: the
 * process still serves its API, and the UI routes answer 404 saying so. */
bool agora_webui_init(const char *root, const char *app);
void agora_webui_cleanup(void);

/* GET / and GET /ui/{path*}. */
enum MHD_Result agora_webui_index(struct agora_req *r);
enum MHD_Result agora_webui_file(struct agora_req *r);

/* The Content-Type for a file name (by extension; unknown ones are
 * application/octet-stream).  Borrowed. */
const char *agora_webui_content_type(const char *name);

#endif
