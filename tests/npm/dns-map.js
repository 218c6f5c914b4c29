// Test scaffolding, preloaded with `node -r ./dns-map.js` (the package under test is not modified).
// meross-cloud talks to fixed host names on fixed ports (https://iotx.meross.com on 443, MQTT on 2001). A
// deployment points those names at fakecloud with DNS and the ports with its listeners or an iptables
// REDIRECT (docs/vendors/meross.md); a test can do neither, so this does the same inside the process:
//   FC_MAP_HOSTS  comma-separated host names that resolve to 127.0.0.1
//   FC_MAP_PORTS  "443:12345,2001:23456": connections to those names on the left port go to the right one
// TLS still checks the certificate against the host name (NODE_EXTRA_CA_CERTS trusts fakecloud's CA).
'use strict';
const dns = require('dns');
const net = require('net');

const hosts = new Set((process.env.FC_MAP_HOSTS || '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean));
const ports = new Map((process.env.FC_MAP_PORTS || '').split(',').filter(Boolean).map((p) => p.split(':').map(Number)));
const mapped = (host) => typeof host === 'string' && hosts.has(host.toLowerCase());

const lookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
    if (typeof options === 'function') {
        callback = options;
        options = {};
    } else if (typeof options === 'number') {
        options = { family: options };
    }
    if (!mapped(hostname)) {
        return lookup.call(this, hostname, options, callback);
    }
    if (options && options.all) {
        return process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }]);
    }
    return process.nextTick(callback, null, '127.0.0.1', 4);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
    // connect(options[, cb]), connect([options, cb]) (node-internal normalized form), connect(port[, host][, cb])
    const opts = Array.isArray(args[0]) ? args[0][0] : args[0];
    if (opts && typeof opts === 'object' && mapped(opts.host) && ports.has(Number(opts.port))) {
        opts.port = ports.get(Number(opts.port));
    } else if ((typeof opts === 'number' || typeof opts === 'string') && mapped(args[1]) && ports.has(Number(opts))) {
        args[0] = ports.get(Number(opts));
    }
    return connect.apply(this, args);
};
