// `ws` ships no types and only its constructor is handed to @jupyterlab/services.
declare module "ws" {
  const WebSocket: new (url: string, protocols?: string | string[]) => unknown;
  export default WebSocket;
}
