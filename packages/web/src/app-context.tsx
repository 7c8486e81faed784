import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';
import type { ApiClient } from './api/api-client.js';
import type { ClientSocket } from './realtime/client-socket.js';

/** Everything the app needs from outside, built once by main.tsx (the composition root). */
export interface AppDependencies {
  api: ApiClient;
  /** Makes a Socket.io connection that is not yet connected. */
  createSocket: () => ClientSocket;
  /** Where preferences (theme, pane sizes) are remembered; null to remember nothing. */
  storage: Storage | null;
}

const AppContext = createContext<AppDependencies | null>(null);
const SocketContext = createContext<ClientSocket | null>(null);

export function AppDependenciesProvider({ value, children }: { value: AppDependencies; children: ReactNode }) {
  return <AppContext.Provider value={value}>{children}</AppContext.Provider>;
}

export function useApp(): AppDependencies {
  const value = useContext(AppContext);
  if (!value) throw new Error('useApp needs an AppDependenciesProvider');
  return value;
}

/** Holds one live Socket.io connection while signed in; it closes when this unmounts (sign out). */
export function SocketProvider({ children }: { children: ReactNode }) {
  const { createSocket } = useApp();
  const [socket] = useState(createSocket);
  useEffect(() => {
    socket.connect();
    return () => {
      socket.disconnect();
    };
  }, [socket]);
  return <SocketContext.Provider value={socket}>{children}</SocketContext.Provider>;
}

export function useSocket(): ClientSocket {
  const value = useContext(SocketContext);
  if (!value) throw new Error('useSocket needs a SocketProvider');
  return value;
}
