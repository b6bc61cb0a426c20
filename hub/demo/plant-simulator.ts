/** Runs the simulated plant in real time: appends its events through HubPublisher at a steady rate. */
import type { Logger } from 'pino';
import type { HubPublisher } from '../../protocol/publisher.ts';
import { PlantModel, type PlantOptions } from './plant-model.ts';

export class PlantSimulator {
  readonly #model: PlantModel;
  readonly #publisher: HubPublisher;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #inFlight = 0;

  constructor(publisher: HubPublisher, options: PlantOptions, log: Logger) {
    this.#model = new PlantModel(options);
    this.#publisher = publisher;
    this.#log = log;
  }

  /** Appends about `perSecond` events a second, in ticks of 100 ms. */
  start(perSecond: number): this {
    let owed = 0;
    this.#timer = setInterval(() => {
      owed += perSecond / 10;
      // Never pile appends up behind a slow or absent NATS.
      while (owed >= 1 && this.#inFlight < 100) {
        owed--;
        this.#inFlight++;
        this.#publisher
          .append(this.#model.next())
          .catch((e: Error) => this.#log.warn({ err: e.message }, 'simulator: append failed'))
          .finally(() => this.#inFlight--);
      }
      owed = Math.min(owed, perSecond);
    }, 100);
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
