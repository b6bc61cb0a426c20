/** What a seed front-end test page exposes on `window` for the test to drive. */
export interface SeedAppProps {
  readonly token: string;
}

export interface SeedApp {
  mount(props: SeedAppProps): void;
  unmount(): void;
}

declare global {
  interface Window {
    seedApp?: SeedApp;
  }
}
