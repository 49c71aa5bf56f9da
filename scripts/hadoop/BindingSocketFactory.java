package org.ndovu.hadoop;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;

import org.apache.hadoop.conf.Configurable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.net.StandardSocketFactory;

/**
 * Hadoop's RPC client sockets, bound to the local address named by
 * "ndovu.rpc.bind.address" before they connect.
 *
 * The NameNode knows a DataNode by the source address of its RPC connection (and its
 * transfer port). Nodes that share a machine on loopback addresses (ndovu's local
 * provider) would all connect from 127.0.0.1, and each DataNode's registration would
 * replace the previous one; bound to its own address, each DataNode is known by it.
 * Hadoop 2.7 binds client sockets only for Kerberos principals, so this factory is
 * named in core-site.xml (hadoop.rpc.socket.factory.class.default).
 */
public class BindingSocketFactory extends StandardSocketFactory implements Configurable {
  public static final String BIND_ADDRESS = "ndovu.rpc.bind.address";
  private Configuration conf;
  private String address = "";

  @Override
  public void setConf(Configuration conf) {
    this.conf = conf;
    this.address = conf.getTrimmed(BIND_ADDRESS, "");
  }

  @Override
  public Configuration getConf() {
    return conf;
  }

  @Override
  public Socket createSocket() throws IOException {
    Socket socket = super.createSocket();
    if (!address.isEmpty()) {
      socket.bind(new InetSocketAddress(address, 0));
    }
    return socket;
  }
}
