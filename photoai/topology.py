"""The multi-process layout from plain processes: a Procfile and the proxy's nginx config.

`scripts/topology.sh` writes both into a folder of its own and runs the Procfile with honcho:
N Reflex backends (`reflex run --backend-only`, one port each), M RQ workers (the first one
also runs the upkeep, the others serve the queue only) and nginx in the foreground, which
serves the exported static frontend and passes the rest to the backends. The container recipe
(`Dockerfile`, `compose.yaml`) runs the same commands, one service per line of the Procfile.

Stickiness: a browser tab's socket.io connection carries its tab token in the `token` query
argument and its uploads carry the same token in the `reflex-client-token` header, so nginx
hashes on that token (consistently, so a backend that goes away moves only its own tabs). A
tab's events thus run on one backend process: its state stays warm there, Reflex's per-tab
lock is taken and released in one process instead of bouncing through Redis between
processes, and an upload lands on the process that holds the tab's websocket. Any backend can
serve any tab (the state is in Redis), so losing one costs a reconnect and a state reload,
never data. Plain HTTP routes (signed files, webhooks, ZIPs, metrics) go to the least busy
backend.
"""

import shlex
from dataclasses import dataclass
from pathlib import Path

# Backend paths; everything else is the static frontend.
TAB_PATHS = ("/_event", "/_upload")
HTTP_PATHS = ("files", "provider-files", "api", "auth", "metrics", "ping", "_health")
DEFAULT_MIME_TYPES = Path("/etc/nginx/mime.types")


@dataclass(frozen=True)
class Topology:
    listen: int  # the proxy's port, the one address users see
    backends: tuple[str, ...]  # host:port; a name with several addresses (compose) is all of them
    static_dir: Path  # the exported frontend (`reflex export --frontend-only`)
    run_dir: Path  # nginx's pid, logs, temporary files, and this layout's Procfile
    max_body_bytes: int  # largest upload request the proxy passes on
    workers: int = 0
    access_log: str = ""  # empty: access.log in the run folder; /dev/stdout in a container
    mime_types: Path = DEFAULT_MIME_TYPES

    def procfile(self, python: str = ".venv/bin/python", reflex: str = ".venv/bin/reflex") -> str:
        """One line per process; honcho runs them and stops them all when one exits."""
        lines = []
        for i, address in enumerate(self.backends):
            host, _, port = address.rpartition(":")
            lines.append(
                f"web{i + 1}: {reflex} run --env prod --backend-only "
                f"--backend-host {host} --backend-port {port}"
            )
        lines += [
            f"worker{i + 1}: {python} worker.py{'' if i == 0 else ' --queue-only'}"
            for i in range(self.workers)
        ]
        conf = shlex.quote(str(self.run_dir / "nginx.conf"))
        prefix = shlex.quote(f"{self.run_dir}/")
        lines.append(f"proxy: nginx -p {prefix} -c {conf} -g 'daemon off;'")
        return "\n".join(lines) + "\n"

    def nginx_conf(self) -> str:
        servers = "\n".join(
            f"        server {address} max_fails=1 fail_timeout=5s;" for address in self.backends
        )
        run = self.run_dir
        forward = """
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Request-Id $request_id;"""
        http_paths = "|".join(HTTP_PATHS)
        return f"""# Written by `photoai proxy-config`; regenerate instead of editing.
worker_processes auto;
pid {run}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 4096;
}}

http {{
    include {self.mime_types};
    default_type application/octet-stream;
    sendfile on;
    server_tokens off;
    log_format upstream '$remote_addr "$request" $status $body_bytes_sent '
                        'upstream=$upstream_addr rt=$request_time';
    access_log {self.access_log or f"{run}/access.log"} upstream;
    client_body_temp_path {run}/spool/body;
    proxy_temp_path {run}/spool/proxy;
    fastcgi_temp_path {run}/spool/fastcgi;
    uwsgi_temp_path {run}/spool/uwsgi;
    scgi_temp_path {run}/spool/scgi;
    client_max_body_size {self.max_body_bytes};
    gzip on;
    gzip_static on;  # the export ships .gz files beside each asset
    gzip_types text/css application/javascript application/json image/svg+xml;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    # The tab token: in the socket.io query (`token`) or in an upload's header.
    map $http_reflex_client_token $photoai_tab {{
        '' $arg_token;
        default $http_reflex_client_token;
    }}

    upstream photoai_tab {{
        hash $photoai_tab consistent;
{servers}
    }}
    upstream photoai_any {{
        least_conn;
{servers}
    }}

    server {{
        listen {self.listen};
        root {self.static_dir};

        location ^~ /_event {{
            proxy_pass http://photoai_tab;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;{forward}
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }}
        location ^~ /_upload {{
            proxy_pass http://photoai_tab;
            proxy_http_version 1.1;{forward}
            proxy_request_buffering off;
            proxy_read_timeout 10m;
        }}
        location ~ ^/({http_paths})(/|$) {{
            proxy_pass http://photoai_any;
            proxy_http_version 1.1;{forward}
            proxy_read_timeout 10m;
        }}
        # Content-hashed bundles never change under their name.
        location ^~ /assets/ {{
            add_header Cache-Control "public, max-age=31536000, immutable";
            try_files $uri =404;
        }}
        location / {{
            add_header Cache-Control "no-cache";
            try_files $uri $uri/index.html $uri.html /404.html;
        }}
    }}
}}
"""

    def write_proxy(self) -> Path:
        """nginx.conf and nginx's temporary folders in the run folder; returns the config."""
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run_dir / "spool" / name).mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(self.nginx_conf())
        return conf

    def write_all(self) -> Path:
        """The proxy's config and the Procfile that runs everything; returns the Procfile."""
        self.write_proxy()
        procfile = self.run_dir / "Procfile"
        procfile.write_text(self.procfile())
        return procfile
