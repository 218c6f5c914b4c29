// Test scaffolding: drives the real npm package meross-cloud against fakecloud, line by line.
// Prints one event per line on stdout (read by tests/integration/test_meross_app.c --npm):
//   LOGGED_IN <n> | LOGIN_FAILED <err> | DEVICE <uuid> <devList entry> | CONNECTED <uuid>
//   DATA <uuid> <namespace> <payload> | TOGGLE_OK <uuid> <reply> | TOGGLE_ERR <uuid> <err>
//   LOGGED_OUT <ok|err> | ERROR <uuid> <err> | CLOSE <uuid> <err> | TIMEOUT
// Reads commands on stdin: "toggle <uuid> <channel> <0|1>", "logout", "quit".
// Credentials: MEROSS_EMAIL, MEROSS_PASSWORD. FC_NPM_DEBUG=1 logs the package's HTTP/MQTT calls to stderr.
'use strict';
const MerossCloud = require('meross-cloud');
const readline = require('readline');

const say = (...parts) => process.stdout.write(parts.join(' ') + '\n');
const meross = new MerossCloud({
    email: process.env.MEROSS_EMAIL,
    password: process.env.MEROSS_PASSWORD,
    logger: process.env.FC_NPM_DEBUG ? (m) => process.stderr.write(m + '\n') : undefined,
    timeout: 5000,
});
const devices = {};

meross.on('deviceInitialized', (id, def, dev) => {
    devices[id] = dev;
    say('DEVICE', id, JSON.stringify(def));
});
meross.on('connected', (id) => say('CONNECTED', id));
meross.on('close', (id, err) => say('CLOSE', id, String(err)));
meross.on('error', (err, id) => say('ERROR', id || '-', String(err)));
meross.on('data', (id, namespace, payload) => say('DATA', id, namespace, JSON.stringify(payload)));

meross.connect((err, count) => {
    if (err) {
        say('LOGIN_FAILED', String(err));
        process.exit(3);
    }
    say('LOGGED_IN', count);
});

const guard = setTimeout(() => {
    say('TIMEOUT');
    process.exit(4);
}, 120000);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, uuid, channel, onoff] = line.trim().split(/\s+/);
    if (cmd === 'toggle') {
        const dev = devices[uuid];
        if (!dev) {
            return say('TOGGLE_ERR', uuid, 'unknown device');
        }
        dev.controlToggleX(Number(channel), Number(onoff) === 1, (e, res) =>
            say(e ? 'TOGGLE_ERR' : 'TOGGLE_OK', uuid, e ? String(e) : JSON.stringify(res)));
    } else if (cmd === 'logout') {
        meross.logout((e) => {
            say('LOGGED_OUT', e ? String(e) : 'ok');
            meross.disconnectAll(true);
            clearTimeout(guard);
            setTimeout(() => process.exit(0), 200);
        });
    } else if (cmd === 'quit') {
        meross.disconnectAll(true);
        process.exit(0);
    }
});
