import type { ObjectKind } from './messages.js';

/** Host state names by state id (docs/protocol/openitcockpit.md "Title, message and icon"). */
const HOST_STATES = ['UP', 'DOWN', 'UNREACHABLE'] as const;
/** Service state names by state id; 3 and anything else is UNKNOWN. */
const SERVICE_STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

/**
 * Name of a Naemon state id. Host ids outside 0..2 have no name in Naemon;
 * like the original we call them UNREACHABLE rather than invent one.
 */
export function stateName(type: ObjectKind, state: number): string {
  if (type === 'host') return HOST_STATES[state] ?? 'UNREACHABLE';
  return SERVICE_STATES[state] ?? 'UNKNOWN';
}

/**
 * Icon path of a state. openITCOCKPIT maps its UNREACHABLE icon to state 3,
 * so a real UNREACHABLE host (state 2) got none; pushgate maps state 2.
 */
export function stateIcon(type: ObjectKind, state: number): string {
  return type === 'host'
    ? `/img/push_notifications/wh/HostPushIcon${stateName('host', state)}.png`
    : `/img/push_notifications/wh/ServicePushIcon${stateName('service', state)}.png`;
}

/** What formatting needs: the resolved names plus the intake fields. */
export interface FormatInput {
  type: ObjectKind;
  hostName: string;
  /** Required for service notifications. */
  serviceName?: string;
  state: number;
  notificationtype: string;
  output: string;
  ackauthor: string;
  ackcomment: string;
}

/** Title, message and icon shown to the user; `icon` is `''` when none. */
export interface Formatted {
  title: string;
  message: string;
  icon: string;
}

/** Title, message and icon of a notification: the table of docs/protocol/openitcockpit.md "Title, message and icon". */
export function formatNotification(n: FormatInput): Formatted {
  const obj = n.type === 'host' ? n.hostName : `${n.hostName}/${n.serviceName ?? ''}`;
  const Obj = n.type === 'host' ? 'Host' : 'Service';
  const kind = n.type;
  const state = stateName(n.type, n.state);
  switch (n.notificationtype) {
    case 'ACKNOWLEDGEMENT':
      return { title: `Acknowledgement for ${obj} (${state})`, message: `${n.ackauthor}: ${n.ackcomment}`, icon: '' };
    case 'DOWNTIMESTART':
      return { title: `Downtime start for ${obj}`, message: `${Obj} has entered a period of scheduled downtime`, icon: '' };
    case 'DOWNTIMEEND':
      return { title: `Downtime end for ${obj}`, message: `${Obj} has exited a period of scheduled downtime`, icon: '' };
    case 'DOWNTIMECANCELLED':
      return { title: `Downtime cancelled for ${obj}`, message: `Scheduled downtime for ${kind} has been cancelled`, icon: '' };
    case 'FLAPPINGSTART':
      return { title: `Flapping start for ${obj}`, message: `${Obj} appears to have started flapping`, icon: '' };
    case 'FLAPPINGSTOP':
      return { title: `Flapping stop for ${obj}`, message: `${Obj} appears to have stopped flapping`, icon: '' };
    case 'FLAPPINGDISABLED':
      return { title: `Flapping disabled for ${obj}`, message: `Flapping has been disabled for the ${kind}`, icon: '' };
    default:
      return { title: `${n.notificationtype}: ${obj} is ${state}!`, message: n.output, icon: stateIcon(n.type, n.state) };
  }
}
