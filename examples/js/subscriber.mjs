// A pusher-js subscriber for a local herald (the dev app by default).
//   cd examples/js && npm install pusher-js && node subscriber.mjs [channel] [event]
import Pusher from 'pusher-js';

const [channel = 'my-channel', event = 'my-event'] = process.argv.slice(2);
const pusher = new Pusher(process.env.HERALD_APP_KEY ?? 'herald-dev-key', {
  cluster: 'local', // required by pusher-js, ignored when wsHost is set
  wsHost: process.env.HERALD_HOST ?? '127.0.0.1',
  wsPort: Number(process.env.HERALD_PORT ?? 6001),
  forceTLS: false,
  enabledTransports: ['ws'],
});
pusher.connection.bind('connected', () => console.log('connected as', pusher.connection.socket_id));
pusher.subscribe(channel).bind(event, (data) => console.log(`${event} on ${channel}:`, data));
