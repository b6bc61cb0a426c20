/**
 * Three of the seed's services, written as its usage scenarios write them:
 * implicit constructor injection of WebSocketService and unawaited sends after a
 * Prisma call. Only the import of WebSocketService is the hub's. A fake
 * PrismaService returns rows shaped like Prisma's (Dates, Decimals).
 *
 * Nest apps are compiled by tsc with `emitDecoratorMetadata`, which is what lets
 * Nest see the constructor's parameter types; tsx (esbuild) emits no such
 * metadata, so test/nest-module.test.ts compiles this file with tsc's
 * transpiler, as a Nest app's build would, instead of importing it directly.
 */
import { Injectable, Module } from '@nestjs/common';
import { Decimal } from 'decimal.js';
import { WebSocketService } from 'plant-realtime-hub/nest';

export interface CreateAlarmDto {
  site_id: number;
  title: string;
  message: string;
  level: string;
}

export interface StockInDto {
  siteId: number;
  materialId: number;
  quantity: number;
}

/** Rows as Prisma returns them: DateTime columns as Date, Decimal columns as Prisma.Decimal (decimal.js). */
@Injectable()
export class PrismaService {
  #ids = 0;
  readonly alarms = {
    create: async (args: { data: CreateAlarmDto }) => ({ id: ++this.#ids, ...args.data, status: 'active', acknowledged_by: null, created_at: new Date(), updated_at: new Date() }),
  };
  readonly production_batches = {
    update: async (args: { where: { id: number }; data: { status: string } }) => ({
      id: args.where.id,
      site_id: 1,
      batch_no: `B-${args.where.id}`,
      volume: new Decimal('8.5'),
      status: args.data.status,
      started_at: new Date(),
      completed_at: null,
      recipe: { id: 3, code: 'C30', water_ratio: new Decimal('0.45') },
    }),
  };
  async $transaction(steps: Array<Promise<unknown>>): Promise<{ material: unknown; movement: unknown }> {
    const [material, movement] = await Promise.all(steps);
    return { material, movement };
  }
  readonly materials = {
    update: async (args: { where: { id: number }; data: { stock: { increment: number } } }) => ({
      id: args.where.id,
      name: 'Cement P.O 42.5',
      unit: 't',
      stock: new Decimal('120.5').plus(args.data.stock.increment),
      min_stock: new Decimal('12.25'),
      updated_at: new Date(),
    }),
  };
  readonly stock_movements = {
    create: async (args: { data: object }) => ({ id: ++this.#ids, ...args.data, created_at: new Date() }),
  };
}

@Injectable()
export class AlarmsService {
  constructor(
    private prisma: PrismaService,
    private websocketService: WebSocketService,
  ) {}

  // 在告警服务中创建告警后推送
  async create(createAlarmDto: CreateAlarmDto) {
    const alarm = await this.prisma.alarms.create({ data: createAlarmDto });

    // 推送告警通知
    this.websocketService.sendAlarmNotification(alarm);

    return alarm;
  }
}

@Injectable()
export class ProductionService {
  constructor(
    private prisma: PrismaService,
    private websocketService: WebSocketService,
  ) {}

  // 生产批次状态更新后推送
  async startBatch(id: number) {
    const batch = await this.prisma.production_batches.update({ where: { id }, data: { status: 'in_progress' } });

    // 推送生产数据更新
    this.websocketService.sendProductionUpdate(batch.site_id, {
      type: 'batch_started',
      batch,
    });

    return batch;
  }
}

@Injectable()
export class InventoryService {
  constructor(
    private prisma: PrismaService,
    private websocketService: WebSocketService,
  ) {}

  // 库存变动后推送
  async stockIn(data: StockInDto) {
    const result = await this.prisma.$transaction([
      this.prisma.materials.update({ where: { id: data.materialId }, data: { stock: { increment: data.quantity } } }),
      this.prisma.stock_movements.create({ data: { material_id: data.materialId, type: 'in', quantity: new Decimal(data.quantity) } }),
    ]);

    // 推送库存更新
    this.websocketService.sendInventoryUpdate(data.siteId, {
      type: 'stock_in',
      material: result.material,
      quantity: data.quantity,
    });

    return result;
  }
}

@Module({ providers: [PrismaService, AlarmsService, ProductionService, InventoryService], exports: [AlarmsService, ProductionService, InventoryService] })
export class PlantModule {}
