/**
 * The NestJS entry (`plant-realtime-hub/nest`): HubModule provides the seed's
 * WebSocketService, so services written for the seed's gateway keep
 * `constructor(private websocketService: WebSocketService)` and their calls
 * unchanged; only the import of WebSocketService and the module change.
 * NestJS is an optional peer: only this entry imports it.
 */
import { type DynamicModule, type FactoryProvider, type InjectionToken, Logger, Module, type ModuleMetadata, type OptionalFactoryDependency } from '@nestjs/common';
import { WebSocketService, type WebSocketServiceOptions } from './websocket-service.ts';

export { WebSocketService, type WebSocketServiceOptions } from './websocket-service.ts';

/** The injection token of the options HubModule was given. */
export const HUB_MODULE_OPTIONS = Symbol('HUB_MODULE_OPTIONS');

export interface HubModuleOptions extends WebSocketServiceOptions {
  /** Provide WebSocketService to every module without importing HubModule there, as the seed's gateway module was. Default true. */
  readonly isGlobal?: boolean;
}

export interface HubModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** Builds the options, e.g. from ConfigService: `(config) => ({ servers: config.get('NATS_URL'), namespace: 'plant' })`. */
  readonly useFactory: (...args: any[]) => WebSocketServiceOptions | Promise<WebSocketServiceOptions>;
  readonly inject?: Array<InjectionToken | OptionalFactoryDependency>;
  readonly isGlobal?: boolean;
}

/**
 * The service connects while the application starts (Nest awaits it) and drains
 * its outbox in the shutdown hooks (`beforeApplicationShutdown`, then
 * `onApplicationShutdown` closes it): call `app.enableShutdownHooks()` so a
 * SIGTERM runs them, as for any Nest resource.
 */
const serviceProvider: FactoryProvider<Promise<WebSocketService>> = {
  provide: WebSocketService,
  useFactory: (options: WebSocketServiceOptions) => WebSocketService.connect({ logger: new Logger('WebSocketService'), ...options }),
  inject: [HUB_MODULE_OPTIONS],
};

/**
 * @example
 * // app.module.ts: replaces the seed's WebsocketModule
 * @Module({ imports: [HubModule.forRoot({ servers: 'nats://127.0.0.1:4222', namespace: 'plant' }), AlarmsModule] })
 * export class AppModule {}
 */
export class HubModule {
  static forRoot(options: HubModuleOptions): DynamicModule {
    const { isGlobal, ...serviceOptions } = options;
    return {
      module: HubModule,
      global: isGlobal ?? true,
      providers: [{ provide: HUB_MODULE_OPTIONS, useValue: serviceOptions }, serviceProvider],
      exports: [WebSocketService],
    };
  }

  static forRootAsync(options: HubModuleAsyncOptions): DynamicModule {
    return {
      module: HubModule,
      global: options.isGlobal ?? true,
      imports: options.imports ?? [],
      providers: [{ provide: HUB_MODULE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] }, serviceProvider],
      exports: [WebSocketService],
    };
  }
}
// Applied as a call, not `@Module`: this file needs no decorator support from whoever compiles it.
Module({})(HubModule);
