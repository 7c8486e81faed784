/** The room names live with the session hub, which joins and emits to them too; realtime code imports them here. */
export { rooms } from '../services/room-names.js';
