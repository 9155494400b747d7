/// A minimal status page at `/`: live counts from the API and a channel tester over `/ws`.
enum DashboardPage {
    static let html = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Switchboard</title>
        <style>body{font:14px system-ui;margin:2em;max-width:60em}pre{background:#f4f4f4;padding:1em;max-height:20em;overflow:auto}</style>
        </head><body>
        <h1>Switchboard</h1>
        <p>Channels and connections (from <code>/api</code>; needs no API key unless one is configured):</p>
        <pre id="state">loading…</pre>
        <p><input id="channel" value="demo/hello"> <button id="sub">subscribe</button>
        <input id="data" value='{"hello":"world"}'> <button id="pub">publish</button></p>
        <pre id="log"></pre>
        <script>
        const log = (t) => { const e = document.getElementById('log'); e.textContent = t + "\\n" + e.textContent; };
        async function refresh() {
          try {
            const [c, k] = await Promise.all([fetch('/api/channels').then(r => r.json()), fetch('/api/connections').then(r => r.json())]);
            document.getElementById('state').textContent = JSON.stringify({channels: c.channels, connections: (k.connections || []).length}, null, 2);
          } catch (e) { document.getElementById('state').textContent = String(e); }
        }
        setInterval(refresh, 2000); refresh();
        const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws', 'switchboard.v1');
        let id = 0;
        ws.onmessage = (e) => log(e.data);
        document.getElementById('sub').onclick = () => ws.send(JSON.stringify({id: ++id, type: 'subscribe', channel: document.getElementById('channel').value}));
        document.getElementById('pub').onclick = () => ws.send(JSON.stringify({id: ++id, type: 'publish', channel: document.getElementById('channel').value, data: JSON.parse(document.getElementById('data').value)}));
        </script></body></html>
        """
}
