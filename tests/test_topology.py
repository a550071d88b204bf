"""The plain-process layout's files: the Procfile honcho runs and the proxy's nginx config."""

from pathlib import Path

from photoai.topology import Topology


def layout(tmp_path: Path, workers: int = 3) -> Topology:
    return Topology(
        listen=8080,
        backends=("127.0.0.1:8001", "127.0.0.1:8002"),
        static_dir=tmp_path / "static",
        run_dir=tmp_path / "run",
        max_body_bytes=1000,
        workers=workers,
    )


def test_procfile_has_each_backend_one_upkeep_worker_and_the_proxy(tmp_path: Path) -> None:
    lines = dict(line.split(": ", 1) for line in layout(tmp_path).procfile().splitlines())
    assert lines["web1"].endswith("--backend-host 127.0.0.1 --backend-port 8001")
    assert lines["web2"].endswith("--backend-port 8002")
    assert "--backend-only" in lines["web1"]
    # One upkeep loop for the layout; the other workers serve the queue only.
    assert lines["worker1"] == ".venv/bin/python worker.py"
    assert lines["worker2"] == lines["worker3"] == ".venv/bin/python worker.py --queue-only"
    assert lines["proxy"].startswith("nginx -p ")
    assert lines["proxy"].endswith("-g 'daemon off;'")
    assert set(lines) == {"web1", "web2", "worker1", "worker2", "worker3", "proxy"}


def test_tabs_stick_to_a_backend_and_plain_requests_do_not(tmp_path: Path) -> None:
    conf = layout(tmp_path).nginx_conf()
    tab = conf.split("upstream photoai_tab {", 1)[1].split("}", 1)[0]
    anyone = conf.split("upstream photoai_any {", 1)[1].split("}", 1)[0]
    assert "hash $photoai_tab consistent;" in tab
    assert "least_conn;" in anyone
    for block in (tab, anyone):
        assert "server 127.0.0.1:8001" in block and "server 127.0.0.1:8002" in block
    # The socket.io token and an upload's tab header are the same key.
    assert "'' $arg_token;" in conf and "default $http_reflex_client_token;" in conf
    event = conf.split("location ^~ /_event {", 1)[1].split("}", 1)[0]
    assert "proxy_pass http://photoai_tab;" in event
    assert "proxy_set_header Upgrade $http_upgrade;" in event
    upload = conf.split("location ^~ /_upload {", 1)[1].split("}", 1)[0]
    assert "proxy_pass http://photoai_tab;" in upload
    assert "client_max_body_size 1000;" in conf


def test_write_all_makes_the_run_folder(tmp_path: Path) -> None:
    procfile = layout(tmp_path).write_all()
    assert procfile == tmp_path / "run" / "Procfile"
    assert (tmp_path / "run" / "nginx.conf").is_file()
    assert (tmp_path / "run" / "spool" / "proxy").is_dir()
