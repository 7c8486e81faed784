export { AGENT_VERSION, Agent, type AgentOptions } from './agent.js';
export { runCommand } from './exec.js';
export { defaultFlowLimits, type FlowLimits, PtySession } from './pty/pty-session.js';
