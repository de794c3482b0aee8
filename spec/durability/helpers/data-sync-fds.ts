/**
 * A ForwardingNativeIO that knows which descriptors were opened with O_DSYNC
 * (openDataSyncFile): specs that hold or count a direct-mode SYNC_FLUSH
 * group's write tell it from the committer's plain pwrites this way.
 */
import { ForwardingNativeIO } from './forwarding-native-io.js';

export class DataSyncFdsIO extends ForwardingNativeIO {
  readonly dataSyncFds = new Set<number>();

  override async openDataSyncFile(path: string): Promise<number> {
    const fd = await super.openDataSyncFile(path);
    this.dataSyncFds.add(fd);
    return fd;
  }
}
